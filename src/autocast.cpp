// AutocastScope and autocast_dtype() (autocast.h).
#include "cifar_exp/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace cifar_exp {

// libtorch 2.4 replaced the per-device autocast functions with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE 1
#endif

AutocastScope::AutocastScope(const torch::Device& device, const std::string& precision) {
  if (precision != "bf16") return;
  active_ = true;
  device_type_ = device.type();
#ifdef CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(device_type_, true);
#else
  if (device_type_ == torch::kCUDA) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Casts of the weights are cached while autocast is on; drop them when the outermost scope
  // ends, as torch.autocast does, so that updated weights are cast afresh next time.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
#else
  if (device_type_ == torch::kCUDA) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
#endif
}

std::optional<at::ScalarType> autocast_dtype(torch::DeviceType device_type) {
#ifdef CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE
  if (!at::autocast::is_autocast_enabled(device_type)) return std::nullopt;
  return at::autocast::get_autocast_dtype(device_type);
#else
  if (device_type == torch::kCUDA) {
    if (!at::autocast::is_enabled()) return std::nullopt;
    return at::autocast::get_autocast_gpu_dtype();
  }
  if (device_type != torch::kCPU || !at::autocast::is_cpu_enabled()) return std::nullopt;
  return at::autocast::get_autocast_cpu_dtype();
#endif
}

}  // namespace cifar_exp
