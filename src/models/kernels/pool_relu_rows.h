// The fused ReLU + 2x2 max pool's row loops (kernels.cpp), shared with our small-CNN
// convolutions (small_conv.cpp), which pool one image at a time from a buffer of their own.
#pragma once

#include <cstdint>

namespace cifar_exp {

// Winner codes: the window position (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of
// the maximum, or kNoGradient when that maximum is <= 0, so ReLU passes no gradient.
inline constexpr uint8_t kNoGradient = 4;

// The loops below are plain C++ that the compiler vectorises over channels. On x86-64 GCC also
// builds an AVX2 clone of each and picks one at load time (the rest of the build targets the
// baseline x86-64, SSE2 only, which leaves these memory-bound loops about 2x slower).
// (Not under AddressSanitizer, whose interceptors and ifunc resolvers do not mix well.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_ADDRESS__)
#define CIFAR_EXP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CIFAR_EXP_VECTOR_CLONES
#endif

// A float's 32 bits, readable through a float pointer (may_alias: no strict-aliasing breach).
typedef uint32_t __attribute__((may_alias)) FloatBits;
static_assert(sizeof(float) == sizeof(FloatBits));

struct PoolShape {
  int64_t channels, height, width;
  int64_t row_floats = 0;  // floats from one input row to the next; 0 = width * channels
  int64_t out_h() const { return height / 2; }
  int64_t out_w() const { return width / 2; }
  int64_t row_stride() const { return row_floats ? row_floats : width * channels; }
};

// Pooled rows [begin, end) (row = image * out_h + output y) of `in` (channels-last, rows
// s.row_stride() floats apart) into `out` and `winners` (channels-last, contiguous; winners may
// be null: inference). As libtorch's max_pool2d: the first maximum in row-major window order wins,
// a NaN wins and passes ReLU.
void pool_relu_forward_rows(const PoolShape& s, const float* in, float* out, uint8_t* winners,
                            int64_t begin, int64_t end);
// The input gradient of the same rows: every position of each window's two input rows written
// (the output gradient where the winner sits, zero elsewhere, zero outside every window).
void pool_relu_backward_rows(const PoolShape& s, const float* grad_out, const uint8_t* winners,
                             float* grad_in, int64_t begin, int64_t end);

}  // namespace cifar_exp
