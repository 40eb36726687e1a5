// The three steps of a Winograd F(4x4, 3x3) convolution over a block of output tiles, for CPUs
// with AVX2 and FMA (winograd.h runs them). Plain pointers and integers only: the .cpp is compiled
// with -mavx2 -mfma, so it must not instantiate any inline function or template that other
// translation units share (a linker could keep its AVX2 copy for the whole program), and must
// only be called once the CPU is known to have AVX2 and FMA.
//
// Layouts: activations NHWC (channels-last); an output tile is 4 x 4 pixels starting at
// (4 * tile_y, 4 * tile_x), its input tile the 6 x 6 pixels from one row and column before
// (padding 1, zero outside the map); tiles are numbered image by image, row by row.
// V[36][tiles][channels] and M[36][tiles][padded_out] hold one transformed block (xi * 6 + nu
// first); U[36][padded_out / 16][channels][16] holds transformed filters, 16 output channels
// per panel (padded_out = out_channels rounded up to 16, the padding zero).
#pragma once

#include <cstdint>

namespace cifar_exp::winograd_avx2 {

// Output channels per panel of U and M: two 8-float AVX2 vectors, the width of multiply's
// register block.
constexpr int64_t kPanelWidth = 16;
// Points of F(4x4, 3x3): a 6 x 6 input tile, so 36 element-wise products per tile and channel.
constexpr int64_t kPoints = 36;

struct MapShape {
  int64_t height = 0, width = 0;
  int64_t tiles_y() const { return (height + 3) / 4; }
  int64_t tiles_x() const { return (width + 3) / 4; }
  int64_t tiles_per_image() const { return tiles_y() * tiles_x(); }
};

// V for tiles [first, first + count) of `input` (N x height x width x channels). `zeros` points
// at `channels` zero floats (read for pixels outside the map).
void transform_input(const float* input, const MapShape& map, int64_t channels, int64_t first,
                     int64_t count, const float* zeros, float* v);

// Output channels [16 * first_panel, 16 * end_panel) of M[k] = V[k] x U[k] for each of the
// `points` points k (36 for Winograd): count x channels times channels x padded_out. Also a plain
// matrix product with points = 1 (U one point's panels).
void multiply(const float* v, const float* u, int64_t points, int64_t count, int64_t channels,
              int64_t padded_out, int64_t first_panel, int64_t end_panel, float* m);

// Output channels [first_channel, end_channel) of the output pixels of tiles [first, first +
// count) from M: A^T M A + bias, then ReLU, then, when
// `pool`, a 2 x 2 stride-2 max pool (output N x height/2 x width/2 x out_channels; a window
// must lie inside the map). Otherwise output is N x height x width x out_channels. NaN passes
// through ReLU and the pool, as in libtorch.
void transform_output(const float* m, const float* bias, const MapShape& map, int64_t out_channels,
                      int64_t padded_out, int64_t first, int64_t count, int64_t first_channel,
                      int64_t end_channel, bool pool, float* output);

}  // namespace cifar_exp::winograd_avx2
