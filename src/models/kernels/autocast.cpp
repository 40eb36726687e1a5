// AutocastScope and autocast_dtype() (autocast.h).
#include "cifar_exp/models/kernels/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace cifar_exp {

namespace {

// libtorch 2.4 replaced the per-device autocast functions with ones taking a device type; these
// four are the only calls that differ. Before 2.4 there were only the CPU and CUDA variants.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool is_enabled(torch::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
at::ScalarType get_dtype(torch::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
void set_enabled(torch::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
void set_dtype(torch::DeviceType type, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool is_enabled(torch::DeviceType type) {
  if (type == torch::kCUDA) return at::autocast::is_enabled();
  return type == torch::kCPU && at::autocast::is_cpu_enabled();
}
at::ScalarType get_dtype(torch::DeviceType type) {
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                              : at::autocast::get_autocast_cpu_dtype();
}
void set_enabled(torch::DeviceType type, bool on) {
  type == torch::kCUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
void set_dtype(torch::DeviceType type, at::ScalarType dtype) {
  type == torch::kCUDA ? at::autocast::set_autocast_gpu_dtype(dtype)
                       : at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) {
  if (precision != Precision::kBf16) return;
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = is_enabled(device_type_);
  previous_dtype_ = get_dtype(device_type_);
  set_dtype(device_type_, at::kBFloat16);
  set_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Casts of the weights are cached while autocast is on; drop them when the outermost scope
  // ends, as torch.autocast does, so that updated weights are cast afresh next time.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(device_type_, was_enabled_);
  set_dtype(device_type_, previous_dtype_);
}

std::optional<at::ScalarType> autocast_dtype(torch::DeviceType device_type) {
  if (!is_enabled(device_type)) return std::nullopt;
  return get_dtype(device_type);
}

}  // namespace cifar_exp
