// Fused CPU kernels (kernels.h): max-pool 2x2 + ReLU, forward and backward; dropout.
#include "cifar_exp/models/kernels/kernels.h"

#include <cmath>
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include "cifar_exp/io/errors.h"
#include "models/kernels/pool_relu_rows.h"

namespace cifar_exp {

bool fused_max_pool2_relu_applies(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 &&
         x.size(2) >= 2 && x.size(3) >= 2 && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;
}  // namespace

// Output rows [begin, end) (row = image * out_h + output y). One output value per (window,
// channel); channels are innermost (channels-last), so the inner loop runs over contiguous memory.
// Comparisons follow libtorch's max_pool2d: the first maximum in row-major window order wins, and
// a NaN wins (and propagates, as ReLU does). `winners` may be null (inference).
CIFAR_EXP_VECTOR_CLONES
void pool_relu_forward_rows(const PoolShape& s, const float* in, float* out, uint8_t* winners,
                            int64_t begin, int64_t end) {
  const int64_t channels = s.channels, out_h = s.out_h(), out_w = s.out_w();
  const int64_t row_stride = s.row_stride();
  for (int64_t row = begin; row < end; ++row) {
    const int64_t image = row / out_h, out_y = row % out_h;
    const float* top = in + (image * s.height + 2 * out_y) * row_stride;
    const float* bottom = top + row_stride;
    for (int64_t out_x = 0; out_x < out_w; ++out_x) {
      const float* __restrict p0 = top + 2 * out_x * channels;
      const float* __restrict p1 = p0 + channels;
      const float* __restrict p2 = bottom + 2 * out_x * channels;
      const float* __restrict p3 = p2 + channels;
      const int64_t at = (row * out_w + out_x) * channels;
      float* __restrict o = out + at;
      uint8_t* __restrict w = winners ? winners + at : nullptr;
      for (int64_t c = 0; c < channels; ++c) {
        float best = p0[c];
        uint8_t k = 0;
        const float v1 = p1[c], v2 = p2[c], v3 = p3[c];
        const bool t1 = v1 > best || v1 != v1;
        best = t1 ? v1 : best;
        k = t1 ? 1 : k;
        const bool t2 = v2 > best || v2 != v2;
        best = t2 ? v2 : best;
        k = t2 ? 2 : k;
        const bool t3 = v3 > best || v3 != v3;
        best = t3 ? v3 : best;
        k = t3 ? 3 : k;
        // As libtorch's ReLU: a NaN passes forward and backward (only x <= 0 is cut).
        const bool passes = !(best <= 0.0f);
        o[c] = passes ? best : 0.0f;
        if (w) w[c] = passes ? k : kNoGradient;
      }
    }
  }
}

// Output rows [begin, end) again: each writes its window's two input rows completely, the output
// gradient where the winner sits and zero elsewhere, so the input gradient needs no zero fill.
CIFAR_EXP_VECTOR_CLONES
void pool_relu_backward_rows(const PoolShape& s, const float* grad_out, const uint8_t* winners,
                             float* grad_in, int64_t begin, int64_t end) {
  const int64_t channels = s.channels, out_h = s.out_h(), out_w = s.out_w();
  const int64_t row_stride = s.row_stride();
  for (int64_t row = begin; row < end; ++row) {
    const int64_t image = row / out_h, out_y = row % out_h;
    float* top = grad_in + (image * s.height + 2 * out_y) * row_stride;
    float* bottom = top + row_stride;
    for (int64_t out_x = 0; out_x < out_w; ++out_x) {
      // Float gradients moved as their bit patterns, masked with integer AND: a select the
      // compiler vectorises on any x86-64 (a float select leaves the loop scalar on SSE2).
      auto* __restrict g0 = reinterpret_cast<FloatBits*>(top + 2 * out_x * channels);
      auto* __restrict g1 = g0 + channels;
      auto* __restrict g2 = reinterpret_cast<FloatBits*>(bottom + 2 * out_x * channels);
      auto* __restrict g3 = g2 + channels;
      const int64_t at = (row * out_w + out_x) * channels;
      const auto* __restrict go = reinterpret_cast<const FloatBits*>(grad_out + at);
      const uint8_t* __restrict w = winners + at;
#pragma GCC ivdep  // the four rows, the gradient and the winners never overlap
      for (int64_t c = 0; c < channels; ++c) {
        const uint32_t g = go[c], k = w[c];
        g0[c] = g & (0u - uint32_t(k == 0));
        g1[c] = g & (0u - uint32_t(k == 1));
        g2[c] = g & (0u - uint32_t(k == 2));
        g3[c] = g & (0u - uint32_t(k == 3));
      }
    }
    // An odd width leaves a last column outside every window.
    if (s.width % 2) {
      std::fill(top + 2 * out_w * channels, top + row_stride, 0.0f);
      std::fill(bottom + 2 * out_w * channels, bottom + row_stride, 0.0f);
    }
    // An odd height leaves each image's last row outside every window.
    if (s.height % 2 && out_y == out_h - 1)
      std::fill(bottom + row_stride, bottom + 2 * row_stride, 0.0f);
  }
}

namespace {

void pool_relu_forward(const float* in, float* out, uint8_t* winners, int64_t n, int64_t channels,
                       int64_t height, int64_t width) {
  const PoolShape shape{channels, height, width};
  at::parallel_for(0, n * shape.out_h(), 1, [&](int64_t begin, int64_t end) {
    pool_relu_forward_rows(shape, in, out, winners, begin, end);
  });
}

void pool_relu_backward(const float* grad_out, const uint8_t* winners, float* grad_in, int64_t n,
                        int64_t channels, int64_t height, int64_t width) {
  const PoolShape shape{channels, height, width};
  at::parallel_for(0, n * shape.out_h(), 1, [&](int64_t begin, int64_t end) {
    pool_relu_backward_rows(shape, grad_out, winners, grad_in, begin, end);
  });
}

// The pooled output of x (channels-last), and its winners when asked for (autograd).
torch::Tensor pool_relu(const torch::Tensor& x, torch::Tensor* winners) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto out = torch::empty({n, c, h / 2, w / 2},
                          x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  uint8_t* winner_data = nullptr;
  if (winners) {
    // In the output's channels-last element order, one byte each.
    *winners = torch::empty({n, h / 2, w / 2, c}, x.options().dtype(torch::kByte));
    winner_data = winners->data_ptr<uint8_t>();
  }
  pool_relu_forward(x.data_ptr<float>(), out.data_ptr<float>(), winner_data, n, c, h, w);
  return out;
}

struct MaxPool2ReluFunction : torch::autograd::Function<MaxPool2ReluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    torch::Tensor winners;
    auto out = pool_relu(x, &winners);
    ctx->save_for_backward({winners});
    ctx->saved_data["height"] = x.size(2);
    ctx->saved_data["width"] = x.size(3);
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto winners = ctx->get_saved_variables()[0];
    const int64_t h = ctx->saved_data["height"].toInt(), w = ctx->saved_data["width"].toInt();
    const int64_t n = winners.size(0), c = winners.size(3);
    const auto grad_out = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    auto grad_in = torch::empty(
        {n, c, h, w}, grad_out.options().memory_format(torch::MemoryFormat::ChannelsLast));
    pool_relu_backward(grad_out.data_ptr<float>(), winners.data_ptr<uint8_t>(),
                       grad_in.data_ptr<float>(), n, c, h, w);
    return {grad_in};
  }
};

}  // namespace

torch::Tensor max_pool2_relu(const torch::Tensor& x, Kernels kernels) {
  if (kernels == Kernels::kGeneric || !fused_max_pool2_relu_applies(x)) {
    return torch::max_pool2d(torch::relu(x), 2);
  }
  if (torch::GradMode::is_enabled() && x.requires_grad()) return MaxPool2ReluFunction::apply(x);
  return pool_relu(x, nullptr);  // inference: no winners to keep, no graph
}

bool own_dropout_applies(const torch::Tensor& x, Kernels kernels) {
  return kernels != Kernels::kGeneric && x.device().is_cpu() && x.scalar_type() == torch::kFloat;
}

namespace {

// SplitMix64 (Steele, Lea and Flood 2014): output i of the stream that starts at `seed`.
inline uint64_t splitmix64(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The mask for n values: `scale` where kept (32 random bits below `keep_below`), else 0; each
// 64-bit output decides two values.
torch::Tensor dropout_mask(const torch::Tensor& like, double p) {
  uint64_t seed;
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    seed = generator.get<at::CPUGeneratorImpl>()->random64();
  }
  auto mask =
      torch::empty(like.sizes(), like.options().memory_format(torch::MemoryFormat::Contiguous));
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  // Keep when the bits, read as a fraction of 2^32, fall below 1 - p.
  const uint64_t keep_below = std::min<uint64_t>(uint64_t(std::ldexp(1.0 - p, 32)), 1ULL << 32);
  const float scale = float(1.0 / (1.0 - p));
  at::parallel_for(0, (n + 1) / 2, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t bits = splitmix64(seed, uint64_t(i));
      out[2 * i] = (bits & 0xffffffffULL) < keep_below ? scale : 0.0f;
      if (2 * i + 1 < n) out[2 * i + 1] = (bits >> 32) < keep_below ? scale : 0.0f;
    }
  });
  return mask;
}

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool training, Kernels kernels) {
  if (!training || p == 0.0) return x;
  if (!own_dropout_applies(x, kernels)) return torch::dropout(x, p, training);
  if (p >= 1.0) return x * 0.0;   // as torch::dropout: everything dropped, gradient zero
  return x * dropout_mask(x, p);  // autograd: the gradient is the mask times the output's
}

}  // namespace cifar_exp
