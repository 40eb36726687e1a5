// Autocast: forward passes in bfloat16 (training.precision = "bf16"). The only place that
// knows the autocast API differs between libtorch 1.13 and 2.x.
#pragma once

#include <optional>
#include <string>

#include <torch/torch.h>

#include "cifar_exp/config/choices.h"

namespace cifar_exp {

// Within its scope, forward passes on `device` run under autocast in bfloat16 when `precision`
// is kBf16 (convolutions and matrix products in bf16; losses, softmax and reductions in fp32;
// parameters and optimizer state stay fp32). Does nothing for kFp32.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
  torch::DeviceType device_type_ = torch::kCPU;
};

// The dtype forward passes on `device_type` are autocast to in this thread, or nullopt when
// autocast is off there. Models use it to take paths of their own under autocast (the frozen
// VGG16 backbone convolves with bf16 weights made once instead of cast every batch).
std::optional<at::ScalarType> autocast_dtype(torch::DeviceType device_type);

}  // namespace cifar_exp
