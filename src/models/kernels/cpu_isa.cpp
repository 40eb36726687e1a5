// CPU instruction sets for our own kernels (cpu_isa.h).
#include "cifar_exp/models/kernels/cpu_isa.h"

#include <algorithm>
#include <cstdlib>

#include "cifar_exp/io/errors.h"

namespace cifar_exp {

namespace {

CpuIsa detect() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return CpuIsa::kBaseline;
  return __builtin_cpu_supports("avx512f") ? CpuIsa::kAvx512 : CpuIsa::kAvx2;
#else
  return CpuIsa::kBaseline;
#endif
}

CpuIsa cap() {
  const char* value = std::getenv(kMaxCpuIsaVariable);
  const std::string isa = value ? value : "";
  if (isa.empty() || isa == "avx512") return CpuIsa::kAvx512;
  if (isa == "avx2") return CpuIsa::kAvx2;
  if (isa == "baseline") return CpuIsa::kBaseline;
  throw ConfigError(std::string(kMaxCpuIsaVariable) + ": \"" + isa +
                    "\" is not one of avx512, avx2, baseline");
}

}  // namespace

CpuIsa cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

CpuIsa our_kernels_isa() { return std::min(cpu_isa(), cap()); }

std::string cpu_isa_shortfall(CpuIsa wanted) {
  if (cpu_isa() < wanted) {
    return wanted == CpuIsa::kAvx512 ? "this CPU has no AVX-512" : "this CPU has no AVX2 and FMA";
  }
  if (cap() < wanted) {
    return std::string(kMaxCpuIsaVariable) + " is \"" + std::getenv(kMaxCpuIsaVariable) + "\"";
  }
  return "";
}

}  // namespace cifar_exp
