// winograd_simd.h's AVX-512 kernels (16 floats per vector); compiled with -mavx512f -mfma.
#include "models/kernels/winograd_simd.h"

#define CIFAR_EXP_VECTOR_FLOATS 16
#define CIFAR_EXP_KERNEL_NAMESPACE avx512_code
#define CIFAR_EXP_KERNEL_ISA "avx512"
#include "models/kernels/winograd_simd.inc"

namespace cifar_exp::winograd_simd {
const KernelTable* avx512_kernels() { return &avx512_code::kTable; }
}  // namespace cifar_exp::winograd_simd
