// Which instruction set our own CPU kernels (the Winograd backbone, the small CNN's convolutions)
// may use: the best this CPU has, capped by CIFAR_EXP_MAX_CPU_ISA.
#pragma once

#include <string>

namespace cifar_exp {

// The environment variable that caps our kernels' instruction set, for measuring an AVX-512
// machine as an AVX2 one (beside oneDNN's ONEDNN_MAX_CPU_ISA and libtorch's ATEN_CPU_CAPABILITY):
// "avx512" (or unset: the best we have), "avx2", or "baseline" (none of ours).
inline constexpr const char* kMaxCpuIsaVariable = "CIFAR_EXP_MAX_CPU_ISA";

enum class CpuIsa { kBaseline, kAvx2, kAvx512 };

// What this CPU has of ours: AVX-512 (F), AVX2 + FMA, or neither (or not x86-64).
CpuIsa cpu_isa();
// cpu_isa() capped by CIFAR_EXP_MAX_CPU_ISA (read on every call: tests and benchmarks set it).
// Throws ConfigError for a value that is not one of avx512, avx2, baseline.
CpuIsa our_kernels_isa();
// Why our kernels stop below `wanted` here ("" when they do not), for messages.
std::string cpu_isa_shortfall(CpuIsa wanted);

}  // namespace cifar_exp
