// The three steps of a Winograd F(4x4, 3x3) convolution over a block of output tiles (winograd.h
// runs them), one table of plain-pointer kernels per instruction set. Each table lives in a
// translation unit compiled for its ISA (winograd_avx2.cpp: -mavx2 -mfma; winograd_avx512.cpp:
// -mavx512f): call a table's functions only once the CPU is known to have it, and declare no
// inline code here (a linker could keep one ISA's copy of a shared inline function for the whole
// program, and run AVX-512 code on a CPU without it).
//
// Layouts: activations NHWC (channels-last); an output tile is 4 x 4 pixels starting at
// (4 * tile_y, 4 * tile_x), its input tile the 6 x 6 pixels from one row and column before
// (padding 1, zero outside the map); tiles are numbered image by image, row by row.
// V[36][tiles][channels] and M[36][tiles][padded_out] hold one transformed block (xi * 6 + nu
// first); U[36][padded_out / 16][channels][16] holds transformed filters, 16 output channels
// per panel (padded_out = out_channels rounded up to 16, the padding zero). Both ISAs share
// these layouts, so one set of transformed filters serves either.
#pragma once

#include <cstdint>

namespace cifar_exp::winograd_simd {

// Output channels per panel of U and M.
constexpr int64_t kPanelWidth = 16;
// Points of F(4x4, 3x3): a 6 x 6 input tile, so 36 element-wise products per tile and channel.
constexpr int64_t kPoints = 36;

// A map and its 4 x 4 tiles (tiles_y = ceil(height / 4), tiles_x = ceil(width / 4)); plain
// fields, no member functions (see above).
struct MapShape {
  int64_t height = 0, width = 0, tiles_y = 0, tiles_x = 0;
};

struct KernelTable {
  const char* isa;  // "avx2" or "avx512"
  // Panels of U that multiply's register block spans (its output panel ranges are best cut at
  // multiples of it): 1 on AVX2 (two 8-float vectors), 2 on AVX-512 (two 16-float vectors).
  int64_t panels_per_block;

  // V for tiles [first, first + count) of `input` (N x height x width x channels). `zeros`
  // points at `channels` zero floats (read for pixels outside the map).
  void (*transform_input)(const float* input, const MapShape& map, int64_t channels, int64_t first,
                          int64_t count, const float* zeros, float* v);

  // Output channels [16 * first_panel, 16 * end_panel) of M[k] = V[k] x U[k] for each of the
  // `points` points k (36 for Winograd): count x channels times channels x padded_out. Also a
  // plain matrix product with points = 1 (U one point's panels).
  void (*multiply)(const float* v, const float* u, int64_t points, int64_t count, int64_t channels,
                   int64_t padded_out, int64_t first_panel, int64_t end_panel, float* m);

  // Output channels [first_channel, end_channel) of the output pixels of tiles [first, first +
  // count) from M (first_channel a multiple of 16): A^T M A + bias, then ReLU, then, when
  // `pool`, a 2 x 2 stride-2 max pool (output N x height/2 x width/2 x out_channels; a window
  // must lie inside the map). Otherwise output is N x height x width x out_channels. NaN passes
  // through ReLU and the pool, as in libtorch.
  void (*transform_output)(const float* m, const float* bias, const MapShape& map,
                           int64_t out_channels, int64_t padded_out, int64_t first, int64_t count,
                           int64_t first_channel, int64_t end_channel, bool pool, float* output);
};

// Null where this build has no such kernels (not x86-64).
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

}  // namespace cifar_exp::winograd_simd
