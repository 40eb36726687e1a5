// winograd_simd.h's AVX2 + FMA kernels (8 floats per vector); compiled with -mavx2 -mfma.
#include "models/kernels/winograd_simd.h"

#define CIFAR_EXP_VECTOR_FLOATS 8
#define CIFAR_EXP_KERNEL_NAMESPACE avx2_code
#define CIFAR_EXP_KERNEL_ISA "avx2"
#include "models/kernels/winograd_simd.inc"

namespace cifar_exp::winograd_simd {
const KernelTable* avx2_kernels() { return &avx2_code::kTable; }
}  // namespace cifar_exp::winograd_simd
