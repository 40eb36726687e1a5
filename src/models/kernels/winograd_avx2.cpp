// Winograd F(4x4, 3x3) kernels for AVX2 + FMA (winograd_avx2.h). Compiled with -mavx2 -mfma;
// includes nothing but intrinsics (see the header for why).
//
// The matrices are Lavin and Gray's ("Fast Algorithms for Convolutional Neural Networks", 2015),
// interpolation points 0, 1, -1, 2, -2 and infinity:
// clang-format off
//          [ 4  0 -5  0  1  0 ]
//          [ 0 -4 -4  1  1  0 ]            [ 1  1  1  1  1  0 ]
//   B^T =  [ 0  4 -4 -1  1  0 ]     A^T =  [ 0  1 -1  2 -2  0 ]
//          [ 0 -2 -1  2  1  0 ]            [ 0  1  1  4  4  0 ]
//          [ 0  2 -1 -2  1  0 ]            [ 0  1 -1  8 -8  1 ]
//          [ 0  4  0 -5  0  1 ]
// clang-format on
// (G, for the filters, is applied in double precision by winograd.cpp.) Each 1-D transform below
// is one of these matrices written out with shared sums.
#include "models/kernels/winograd_avx2.h"

#include <immintrin.h>

namespace cifar_exp::winograd_avx2 {

namespace {

inline int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes [0, n) on, n in 1..8: for the last channels when a count is not a multiple of 8.
inline __m256i lanes(int64_t n) {
  static const int32_t kTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTable + 8 - n));
}

template <bool kMasked>
inline __m256 load(const float* p, __m256i mask) {
  return kMasked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

template <bool kMasked>
inline void store(float* p, __m256 x, __m256i mask) {
  if (kMasked) {
    _mm256_maskstore_ps(p, mask, x);
  } else {
    _mm256_storeu_ps(p, x);
  }
}

// r = B^T d for one column of 6 values.
inline void input_1d(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5, __m256* r) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 d4_minus_d2 = _mm256_sub_ps(d4, d2), d3_minus_d1 = _mm256_sub_ps(d3, d1);
  r[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
  r[1] = _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
  r[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
  r[3] = _mm256_fmadd_ps(two, d3_minus_d1, d4_minus_d2);
  r[4] = _mm256_fnmadd_ps(two, d3_minus_d1, d4_minus_d2);
  r[5] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

// r = A^T m for one column of 6 values.
inline void output_1d(const __m256* m, __m256* r) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f),
               eight = _mm256_set1_ps(8.0f);
  const __m256 sum12 = _mm256_add_ps(m[1], m[2]), diff12 = _mm256_sub_ps(m[1], m[2]);
  const __m256 sum34 = _mm256_add_ps(m[3], m[4]), diff34 = _mm256_sub_ps(m[3], m[4]);
  r[0] = _mm256_add_ps(_mm256_add_ps(m[0], sum12), sum34);
  r[1] = _mm256_fmadd_ps(two, diff34, diff12);
  r[2] = _mm256_fmadd_ps(four, sum34, sum12);
  r[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, diff34, diff12), m[5]);
}

// V = B^T d B for 8 channels (or the `mask`ed last ones) of one tile.
template <bool kMasked>
inline void input_tile(const float* const (&pixel)[6][6], int64_t c, __m256i mask, float* out,
                       int64_t point_stride) {
  __m256 t[6][6];  // t[i][j] = (B^T d)[i][j]
  for (int j = 0; j < 6; ++j) {
    __m256 column[6];
    input_1d(load<kMasked>(pixel[0][j] + c, mask), load<kMasked>(pixel[1][j] + c, mask),
             load<kMasked>(pixel[2][j] + c, mask), load<kMasked>(pixel[3][j] + c, mask),
             load<kMasked>(pixel[4][j] + c, mask), load<kMasked>(pixel[5][j] + c, mask), column);
    for (int i = 0; i < 6; ++i) t[i][j] = column[i];
  }
  for (int i = 0; i < 6; ++i) {
    __m256 row[6];
    input_1d(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], row);
    for (int j = 0; j < 6; ++j) store<kMasked>(out + (i * 6 + j) * point_stride + c, row[j], mask);
  }
}

// NaN-propagating maximum (libtorch's max_pool2d keeps a NaN).
inline __m256 max_nan(__m256 a, __m256 b) {
  const __m256 unordered = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
  return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), unordered);
}

// Y = A^T M A + bias, ReLU (and pool) for 8 output channels of one tile.
template <bool kMasked>
inline void output_tile(const float* m, int64_t point_stride, __m256 bias, __m256i mask,
                        float* const (&pixel)[4][4], int valid_rows, int valid_cols, bool pool) {
  __m256 s[4][6];  // s[i][j] = (A^T M)[i][j]
  for (int j = 0; j < 6; ++j) {
    __m256 column[6], r[4];
    for (int i = 0; i < 6; ++i) column[i] = _mm256_loadu_ps(m + (i * 6 + j) * point_stride);
    output_1d(column, r);
    for (int i = 0; i < 4; ++i) s[i][j] = r[i];
  }
  const __m256 zero = _mm256_setzero_ps();
  __m256 y[4][4];
  for (int i = 0; i < 4; ++i) {
    output_1d(s[i], y[i]);
    // max(0, v) returns v when v is NaN: ReLU keeps NaN, as libtorch's does.
    for (int j = 0; j < 4; ++j) y[i][j] = _mm256_max_ps(zero, _mm256_add_ps(y[i][j], bias));
  }
  if (pool) {
    for (int i = 0; i + 1 < valid_rows; i += 2) {
      for (int j = 0; j + 1 < valid_cols; j += 2) {
        const __m256 top = max_nan(y[i][j], y[i][j + 1]);
        const __m256 bottom = max_nan(y[i + 1][j], y[i + 1][j + 1]);
        store<kMasked>(pixel[i / 2][j / 2], max_nan(top, bottom), mask);
      }
    }
    return;
  }
  for (int i = 0; i < valid_rows; ++i) {
    for (int j = 0; j < valid_cols; ++j) store<kMasked>(pixel[i][j], y[i][j], mask);
  }
}

// c[rows][16] (+)= a[rows][depth] b[depth][16], rows <= 6: 2 x rows accumulators in registers,
// b a panel of 16 output channels, a's rows `lda` apart, c's `ldc`.
template <int kRows>
inline void panel_product(const float* a, int64_t lda, const float* b, int64_t depth, float* c,
                          int64_t ldc, bool accumulate) {
  __m256 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
    acc[r][1] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < depth; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + kPanelWidth * k),
                 b1 = _mm256_loadu_ps(b + kPanelWidth * k + 8);
    for (int r = 0; r < kRows; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * lda + k);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    _mm256_storeu_ps(c + r * ldc, acc[r][0]);
    _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
  }
}

// Input channels summed per pass: a 16-channel panel of U over this depth is 16 KB and stays in
// L1 while every row of the block passes over it.
constexpr int64_t kDepth = 256;
constexpr int64_t kRows = 6;  // rows per register block: 12 accumulators + 2 panel + 1 broadcast

}  // namespace

void transform_input(const float* input, const MapShape& map, int64_t channels, int64_t first,
                     int64_t count, const float* zeros, float* v) {
  const int64_t per_image = map.tiles_per_image(), tiles_x = map.tiles_x();
  const int64_t point_stride = count * channels;
  const int64_t tail = channels % 8, full = channels - tail;
  const __m256i all = lanes(8), last = lanes(tail == 0 ? 8 : tail);
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / per_image, in_image = tile % per_image;
    const int64_t y0 = in_image / tiles_x * 4 - 1, x0 = in_image % tiles_x * 4 - 1;
    const float* pixel[6][6];
    for (int i = 0; i < 6; ++i) {
      const int64_t y = y0 + i;
      for (int j = 0; j < 6; ++j) {
        const int64_t x = x0 + j;
        const bool inside = y >= 0 && y < map.height && x >= 0 && x < map.width;
        pixel[i][j] =
            inside ? input + ((image * map.height + y) * map.width + x) * channels : zeros;
      }
    }
    float* out = v + t * channels;
    for (int64_t c = 0; c < full; c += 8) input_tile<false>(pixel, c, all, out, point_stride);
    if (tail) input_tile<true>(pixel, full, last, out, point_stride);
  }
}

void multiply(const float* v, const float* u, int64_t points, int64_t count, int64_t channels,
              int64_t padded_out, int64_t first_panel, int64_t end_panel, float* m) {
  for (int64_t k = 0; k < points; ++k) {
    const float* vk = v + k * count * channels;
    const float* uk = u + k * channels * padded_out;
    float* mk = m + k * count * padded_out;
    for (int64_t panel = first_panel; panel < end_panel; ++panel) {
      const float* up = uk + panel * channels * kPanelWidth;
      for (int64_t c0 = 0; c0 < channels; c0 += kDepth) {
        const int64_t depth = smaller(kDepth, channels - c0);
        const bool accumulate = c0 > 0;
        for (int64_t row = 0; row < count; row += kRows) {
          const float* a = vk + row * channels + c0;
          const float* b = up + c0 * kPanelWidth;
          float* c = mk + row * padded_out + panel * kPanelWidth;
          // A switch, so that each panel_product is inlined here: through a table of function
          // pointers the products ran ~30% slower (measured).
          switch (smaller(kRows, count - row)) {
            case 6:
              panel_product<6>(a, channels, b, depth, c, padded_out, accumulate);
              break;
            case 5:
              panel_product<5>(a, channels, b, depth, c, padded_out, accumulate);
              break;
            case 4:
              panel_product<4>(a, channels, b, depth, c, padded_out, accumulate);
              break;
            case 3:
              panel_product<3>(a, channels, b, depth, c, padded_out, accumulate);
              break;
            case 2:
              panel_product<2>(a, channels, b, depth, c, padded_out, accumulate);
              break;
            default:
              panel_product<1>(a, channels, b, depth, c, padded_out, accumulate);
              break;
          }
        }
      }
    }
  }
}

void transform_output(const float* m, const float* bias, const MapShape& map, int64_t out_channels,
                      int64_t padded_out, int64_t first, int64_t count, int64_t first_channel,
                      int64_t end_channel, bool pool, float* output) {
  const int64_t per_image = map.tiles_per_image(), tiles_x = map.tiles_x();
  const int64_t point_stride = count * padded_out;
  const int64_t out_h = pool ? map.height / 2 : map.height,
                out_w = pool ? map.width / 2 : map.width;
  // first_channel is a multiple of 8 (of 16: a panel's first); only end_channel may cut a vector.
  const int64_t tail = (end_channel - first_channel) % 8, full = end_channel - tail;
  const __m256i all = lanes(8), last = lanes(tail == 0 ? 8 : tail);
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / per_image, in_image = tile % per_image;
    const int64_t y0 = in_image / tiles_x * 4, x0 = in_image % tiles_x * 4;
    const int valid_rows = int(smaller(4, map.height - y0));
    const int valid_cols = int(smaller(4, map.width - x0));
    // Where each output pixel of the tile goes (pooled: the top-left 2 x 2 are used).
    float* pixel[4][4] = {};
    const int64_t oy0 = pool ? y0 / 2 : y0, ox0 = pool ? x0 / 2 : x0;
    const int side = pool ? 2 : 4;
    for (int i = 0; i < side; ++i) {
      for (int j = 0; j < side; ++j) {
        const int64_t y = oy0 + i, x = ox0 + j;
        if (y < out_h && x < out_w)
          pixel[i][j] = output + ((image * out_h + y) * out_w + x) * out_channels;
      }
    }
    const float* tile_m = m + t * padded_out;
    for (int64_t c = first_channel; c < end_channel; c += 8) {
      float* at[4][4];
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) at[i][j] = pixel[i][j] ? pixel[i][j] + c : nullptr;
      }
      if (c < full) {
        output_tile<false>(tile_m + c, point_stride, _mm256_loadu_ps(bias + c), all, at, valid_rows,
                           valid_cols, pool);
      } else {
        output_tile<true>(tile_m + c, point_stride, _mm256_maskload_ps(bias + c, last), last, at,
                          valid_rows, valid_cols, pool);
      }
    }
  }
}

}  // namespace cifar_exp::winograd_avx2
