// Devices: resolution, per-run settings, uploads, generators, reports (see device.h).
#include "cifar_exp/data/device.h"

#include <fstream>
#include <mutex>

#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/version.h>

#ifdef CIFAR_EXP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/detail/CUDAHooksInterface.h>
#endif

#include "cifar_exp/io/errors.h"

namespace cifar_exp {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  }
  if (!is_device_spec(spec)) {
    throw ConfigError("training.device: must be auto, cpu, cuda or cuda:N, got \"" + spec + "\"");
  }
  if (!torch::cuda::is_available()) {
    throw ConfigError("training.device: \"" + spec +
                      "\" requested but CUDA is not available (this libtorch " +
                      (torch::cuda::device_count() == 0 ? "sees no GPU" : "cannot use it") +
                      "); use \"cpu\" or \"auto\"");
  }
  const int64_t index = spec == "cuda" ? 0 : std::stoll(spec.substr(5));  // "cuda:N"
  const int64_t count = int64_t(torch::cuda::device_count());
  if (index >= count) {
    throw ConfigError("training.device: \"" + spec + "\" requested but only " +
                      std::to_string(count) + " CUDA device(s) exist");
  }
  return torch::Device(torch::kCUDA, torch::DeviceIndex(index));
}

void configure_device(const torch::Device& device, const TrainingConfig& training, bool autotune) {
  if (!device.is_cuda()) return;
  // Without this, cuda:1 runs would still create a context on GPU 0 and synchronise there.
  c10::impl::VirtualGuardImpl(device.type()).setDevice(device);
  at::globalContext().setBenchmarkCuDNN(autotune);
  at::globalContext().setAllowTF32CuBLAS(training.tf32);
  at::globalContext().setAllowTF32CuDNN(training.tf32);
  if (training.precision == Precision::kBf16 && !supports_native_bf16(device)) {
    throw ConfigError(
        "training.precision: \"bf16\" needs a GPU of compute capability 8.0 or "
        "later; " +
        device_name(device) + " (" + device.str() + ") has none; use \"fp32\"");
  }
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

torch::Tensor upload(const torch::Tensor& host, const torch::Device& device) {
  if (host.device() == device) return host;
  if (device.is_cuda() && host.device().is_cpu()) {
    // Pinned staging memory comes from libtorch's caching host allocator, which keeps the block
    // alive until the asynchronous copy has finished.
    return host.pin_memory().to(device, /*non_blocking=*/true);
  }
  return host.to(device);
}

bool cpu_has_native_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    return line.find(" avx512_bf16") != std::string::npos ||
           line.find(" amx_bf16") != std::string::npos;
  }
  return false;
}

bool supports_native_bf16(const torch::Device& device) {
  if (device.is_cpu()) return cpu_has_native_bf16();
#ifdef CIFAR_EXP_WITH_CUDA
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.index())->major >= 8;
#endif
  return false;
}

torch::Tensor cuda_generator_state(const torch::Device& device) {
  if (!device.is_cuda()) return {};
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_cuda_generator_state(const torch::Device& device, const torch::Tensor& state) {
  if (!device.is_cuda() || !state.defined()) return;
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

namespace {

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown CPU";
}

#ifdef CIFAR_EXP_WITH_CUDA
// cudaRuntimeGetVersion's 13020 -> "13.2".
std::string cuda_version_text(long version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// cuDNN 9 encodes 9.26.0 as 92600; cuDNN 8 encoded 8.9.7 as 8907.
std::string cudnn_version_text(long version) {
  const long major_scale = version >= 90000 ? 10000 : 1000;
  return std::to_string(version / major_scale) + "." + std::to_string(version % major_scale / 100) +
         "." + std::to_string(version % 100);
}

// The cuDNN loaded at run time (cudnnGetVersion), where the hooks can tell: libtorch 2.x added
// versionRuntimeCuDNN (versionCuDNN is the CUDNN_VERSION libtorch was compiled with); -1 before.
template <typename Hooks>
auto runtime_cudnn_version(const Hooks& hooks, int) -> decltype(long(hooks.versionRuntimeCuDNN())) {
  return hooks.versionRuntimeCuDNN();
}
template <typename Hooks>
long runtime_cudnn_version(const Hooks&, long) {
  return -1;
}
#endif

}  // namespace

DeviceReport device_report() {
  DeviceReport report;
  report.libtorch = TORCH_VERSION;
  report.cpu = cpu_model();
#ifdef CIFAR_EXP_WITH_CUDA
  // A CUDA build knows these even on a machine without a GPU. The hooks' versionCUDART and
  // versionCuDNN are the versions libtorch was compiled against; the loaded libraries are asked
  // directly (cudaRuntimeGetVersion needs no device).
  const auto& hooks = at::detail::getCUDAHooks();
  try {
    report.cuda_runtime_built = cuda_version_text(hooks.versionCUDART());
    if (hooks.hasCuDNN()) {
      report.cudnn_built = cudnn_version_text(hooks.versionCuDNN());
      const long loaded = runtime_cudnn_version(hooks, 0);
      if (loaded > 0) report.cudnn = cudnn_version_text(loaded);
    }
  } catch (const c10::Error&) {
  }
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess && runtime > 0) {
    report.cuda_runtime = cuda_version_text(runtime);
  }
  for (int64_t i = 0; i < int64_t(torch::cuda::device_count()); ++i) {
    report.gpus.push_back(at::cuda::getDeviceProperties(int(i))->name);
  }
#endif
  return report;
}

std::string loaded_version_text(const std::string& loaded, const std::string& built,
                                const std::string& none) {
  if (loaded.empty() && built.empty()) return none;
  if (loaded.empty()) return built + " (built against; the loaded version is unknown)";
  if (built.empty() || built == loaded) return loaded;
  return loaded + " (libtorch built against " + built + ")";
}

std::string device_name(const torch::Device& device) {
#ifdef CIFAR_EXP_WITH_CUDA
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.index())->name;
#endif
  if (device.is_cpu()) return cpu_model();
  return device.str();
}

bool is_out_of_memory(const c10::Error& error) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error)) return true;
  const std::string message = error.what_without_backtrace();
  return message.find("out of memory") != std::string::npos ||
         message.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos;
}

}  // namespace cifar_exp
