// Devices: the one place that knows about CUDA. Resolves "auto|cpu|cuda|cuda:N", prepares a
// device for a run (current device, cuDNN autotuning, TF32, bf16 support), waits for it, uploads
// host tensors without stalling it, saves and restores its random generator, describes the
// hardware and libraries for --version and summaries, and recognises out-of-memory errors.
// Builds against a CPU-only libtorch (Debian's 1.13) and a CUDA one (PyTorch's 2.x) alike; the
// CUDA-only code sits behind CIFAR_EXP_WITH_CUDA, set by CMakeLists.txt.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

// Parses auto|cpu|cuda|cuda:N into a device with an explicit index ("cuda" = "cuda:0");
// ConfigError when the device does not exist here.
torch::Device resolve_device(const std::string& spec);

// Makes `device` the current CUDA device of this thread (so that allocations, generators and
// synchronisation go to it, not to GPU 0) and applies the run's settings: cuDNN autotuning
// (`autotune`; fixed input shapes make it worthwhile, but it is not bit-reproducible), TF32 as
// `training.tf32` says, and a check that the GPU has bfloat16 when `training.precision` is
// bf16 (ConfigError otherwise). Does nothing but the checks on the CPU.
void configure_device(const torch::Device& device, const TrainingConfig& training, bool autotune);

// Waits for the work queued on `device` (and only that device). No-op on the CPU.
void synchronize(const torch::Device& device);

// `host` on `device`: on CUDA copied from pinned memory without waiting for the queue (the
// copy is ordered on the current stream), elsewhere an ordinary copy. For per-batch uploads
// only: the pinned staging block stays in the host caching allocator for reuse, so whole splits
// are copied with a plain .to(device).
torch::Tensor upload(const torch::Tensor& host, const torch::Device& device);

// Whether `device` computes in bfloat16 natively: a CPU with avx512_bf16 or AMX, or a GPU of
// compute capability 8.0 (Ampere) or later.
bool supports_native_bf16(const torch::Device& device);
bool cpu_has_native_bf16();

// The state of the default generator of a CUDA device (dropout on the GPU draws from it), and
// back. Undefined / no-op for the CPU: its generator is saved separately.
torch::Tensor cuda_generator_state(const torch::Device& device);
void set_cuda_generator_state(const torch::Device& device, const torch::Tensor& state);

// What the hardware and libraries are, for --version and summary.json.
// The CUDA runtime and cuDNN are the libraries loaded in this process; the *_built ones are
// those libtorch was compiled against. All four are "" when this libtorch has no CUDA; a loaded
// version is "" too where it cannot be asked for (cuDNN with libtorch before 2.x's hook).
struct DeviceReport {
  std::string libtorch;            // "2.15.0"
  std::string cuda_runtime;        // "13.2"
  std::string cuda_runtime_built;  // "13.0"
  std::string cudnn;               // "9.26.0"
  std::string cudnn_built;
  std::vector<std::string> gpus;  // names, in index order
  std::string cpu;                // model name from /proc/cpuinfo
};
DeviceReport device_report();
// A library's version for --version: `loaded`, with the one libtorch was built against where
// that differs or is all that is known ("9.1.0 (built against; the loaded version is
// unknown)"); `none` when both are "".
std::string loaded_version_text(const std::string& loaded, const std::string& built,
                                const std::string& none);
// "NVIDIA H200" for cuda:N, the CPU model for the CPU.
std::string device_name(const torch::Device& device);

// Whether a libtorch error is an allocation failure (CUDA or host).
bool is_out_of_memory(const c10::Error& error);

}  // namespace cifar_exp
