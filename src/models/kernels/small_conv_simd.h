// The arithmetic of our small-CNN convolutions (small_conv.h), one table of plain-pointer
// kernels per instruction set. Each table lives in a translation unit compiled for its ISA
// (small_conv_avx2.cpp: -mavx2 -mfma; small_conv_avx512.cpp: -mavx512f): call a table's
// functions only once the CPU is known to have it (small_conv.cpp checks), and declare no inline
// code here, for the same reason winograd_simd.h gives.
//
// Layouts: one image at a time, NHWC (channels innermost). Convolutions are 3 x 3, stride 1,
// valid (no padding: a caller that wants padding passes a zero-bordered image). Packed filters:
// [kh][kw][in][out] (forward) -- the same layout serves the input gradient with in and out
// exchanged and the taps flipped.
#pragma once

#include <cstdint>

namespace cifar_exp::small_conv {

struct KernelTable {
  const char* isa;  // "avx512" or "avx2"
  // Floats per vector: output channel counts must be multiples of it.
  int64_t vector_width;
  // out[y][x][o] = bias[o] + sum over taps and input channels, for the (h - 2) x (w - 2) output
  // of image x (h x w x in). bias may be null (zero). out's rows are (w - 2) * out floats apart.
  // The first zero_top and last zero_bottom rows of x are zero (a padded gradient's border):
  // their taps are skipped, not multiplied.
  void (*convolve)(const float* x, int64_t h, int64_t w, int64_t in, int64_t zero_top,
                   int64_t zero_bottom, const float* filters, const float* bias, int64_t out,
                   float* result);
  // dfilters[kh][kw][i][o] += sum over the out_h x out_w output pixels (y, x) of
  // x[y + kh][x + kw][i] * grad[y][x][o], for image x (h x w x in, out_h = h - 2, out_w = w - 2);
  // grad's rows are grad_row floats apart, its pixels `out` floats.
  void (*accumulate_filter_gradient)(const float* x, int64_t h, int64_t w, int64_t in,
                                     const float* grad, int64_t grad_row, int64_t out,
                                     float* dfilters);
};

// Null where this build has no such kernels (not x86-64).
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

}  // namespace cifar_exp::small_conv
