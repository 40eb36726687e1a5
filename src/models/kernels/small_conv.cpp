// Our small-CNN convolutions (small_conv.h): dispatch, threads, the autograd function. The
// arithmetic is in small_conv_simd.inc; the ReLU + pool rows are the fused pool's (kernels.cpp).
#include "cifar_exp/models/kernels/small_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/models/kernels/cpu_isa.h"
#include "models/kernels/pool_relu_rows.h"
#include "models/kernels/small_conv_simd.h"

namespace cifar_exp {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The kernels our_kernels_isa() allows, or null.
const small_conv::KernelTable* kernel_table() {
#if defined(__x86_64__)
  switch (our_kernels_isa()) {
    case CpuIsa::kAvx512:
      return small_conv::avx512_kernels();
    case CpuIsa::kAvx2:
      return small_conv::avx2_kernels();
    case CpuIsa::kBaseline:
      break;
  }
#endif
  return nullptr;
}

constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;

// The layer's sizes: input n x in x h x w, `out` filters, output out_h x out_w, pooled or not.
struct Shape {
  int64_t n, in, h, w, out;
  bool pool;
  int64_t out_h() const { return h - 2; }
  int64_t out_w() const { return w - 2; }
  int64_t result_h() const { return pool ? out_h() / 2 : out_h(); }
  int64_t result_w() const { return pool ? out_w() / 2 : out_w(); }
  int64_t image() const { return h * w * in; }
  int64_t result_image() const { return result_h() * result_w() * out; }
  // The output gradient buffer: the out_h x out_w map with a zero border of 2, so that the
  // input gradient is a valid convolution of it.
  int64_t padded_w() const { return out_w() + 4; }
  int64_t padded_floats() const { return (out_h() + 4) * padded_w() * out; }
  int64_t padded_interior() const { return (2 * padded_w() + 2) * out; }
  // Zero rows at the padded buffer's bottom: the border, and the map's last row where an odd
  // height leaves it outside every pool window.
  int64_t zero_bottom() const { return 2 + (pool ? out_h() % 2 : 0); }
};

Shape shape_of(const torch::Tensor& x, const torch::Tensor& weight, bool pool) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), pool};
}

// Images [first, end) of `chunk` out of `chunks`, an even split in order.
std::pair<int64_t, int64_t> share(int64_t n, int64_t chunk, int64_t chunks) {
  return {n * chunk / chunks, n * (chunk + 1) / chunks};
}

// ReLU in place, as libtorch's: only values <= 0 are cut (a NaN passes).
void relu_in_place(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) values[i] = values[i] <= 0.0f ? 0.0f : values[i];
}

torch::Tensor forward_pass(const small_conv::KernelTable& k, const torch::Tensor& x,
                           const torch::Tensor& weight, const torch::Tensor& bias, const Shape& s,
                           torch::Tensor* winners) {
  const auto filters = weight.detach().permute({2, 3, 1, 0}).contiguous();  // kh, kw, in, out
  const auto b = bias.detach().contiguous();
  auto result = torch::empty({s.n, s.out, s.result_h(), s.result_w()},
                             x.options().memory_format(kChannelsLast));
  uint8_t* winner_data = nullptr;
  if (s.pool && winners) {
    *winners =
        torch::empty({s.n, s.result_h(), s.result_w(), s.out}, x.options().dtype(torch::kByte));
    winner_data = winners->data_ptr<uint8_t>();
  }
  const float* xd = x.data_ptr<float>();
  float* rd = result.data_ptr<float>();
  const PoolShape pool{s.out, s.out_h(), s.out_w()};
  at::parallel_for(0, s.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> map(s.pool ? s.out_h() * s.out_w() * s.out : 0);
    for (int64_t i = begin; i < end; ++i) {
      float* r = rd + i * s.result_image();
      k.convolve(xd + i * s.image(), s.h, s.w, s.in, 0, 0, filters.data_ptr<float>(),
                 b.data_ptr<float>(), s.out, s.pool ? map.data() : r);
      if (!s.pool) {
        relu_in_place(r, s.result_image());
        continue;
      }
      pool_relu_forward_rows(pool, map.data(), r,
                             winner_data ? winner_data + i * s.result_image() : nullptr, 0,
                             pool.out_h());
    }
  });
  return result;
}

// The gradient at the convolution's output for image i, into the interior of `padded`: the
// pool's (winners) or ReLU's (the saved output) backward of the result's gradient.
void output_gradient(const Shape& s, const float* grad, const torch::Tensor& saved, int64_t i,
                     float* padded) {
  float* interior = padded + s.padded_interior();
  const int64_t row = s.padded_w() * s.out;
  const float* g = grad + i * s.result_image();
  if (s.pool) {
    const PoolShape pool{s.out, s.out_h(), s.out_w(), row};
    pool_relu_backward_rows(pool, g, saved.data_ptr<uint8_t>() + i * s.result_image(), interior, 0,
                            pool.out_h());
    return;
  }
  const float* output = saved.data_ptr<float>() + i * s.result_image();
  for (int64_t y = 0; y < s.out_h(); ++y) {
    for (int64_t j = 0; j < s.out_w() * s.out; ++j) {
      const int64_t at = y * s.out_w() * s.out + j;
      interior[y * row + j] = output[at] <= 0.0f ? 0.0f : g[at];  // a NaN passes
    }
  }
}

struct Gradients {
  torch::Tensor input, weight, bias;
};

Gradients backward_pass(const small_conv::KernelTable& k, const torch::Tensor& x,
                        const torch::Tensor& weight, const torch::Tensor& saved,
                        const torch::Tensor& grad_result, const Shape& s, bool input_grad) {
  const auto grad = grad_result.contiguous(kChannelsLast);
  const auto flipped = input_grad
                           ? weight.detach().flip({2, 3}).permute({2, 3, 0, 1}).contiguous()
                           : torch::Tensor();  // kh, kw, out, in: the input gradient's filters
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(s.n, at::get_num_threads()));
  const int64_t filter_floats = 9 * s.in * s.out;
  auto partial = torch::zeros({chunks, filter_floats + s.out}, x.options());
  Gradients g;
  if (input_grad)
    g.input = torch::empty({s.n, s.in, s.h, s.w}, x.options().memory_format(kChannelsLast));
  const float* xd = x.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(s.padded_floats(), 0.0f);
    const int64_t row = s.padded_w() * s.out;
    for (int64_t c = begin; c < end; ++c) {
      float* dfilters = partial.data_ptr<float>() + c * (filter_floats + s.out);
      float* dbias = dfilters + filter_floats;
      const auto [first, last] = share(s.n, c, chunks);
      for (int64_t i = first; i < last; ++i) {
        output_gradient(s, grad.data_ptr<float>(), saved, i, padded.data());
        const float* interior = padded.data() + s.padded_interior();
        for (int64_t y = 0; y < s.out_h(); ++y) {
          for (int64_t px = 0; px < s.out_w(); ++px) {
            const float* gp = interior + y * row + px * s.out;
            for (int64_t o = 0; o < s.out; ++o) dbias[o] += gp[o];
          }
        }
        k.accumulate_filter_gradient(xd + i * s.image(), s.h, s.w, s.in, interior, row, s.out,
                                     dfilters);
        if (input_grad) {
          k.convolve(padded.data(), s.out_h() + 4, s.padded_w(), s.out, 2, s.zero_bottom(),
                     flipped.data_ptr<float>(), nullptr, s.in,
                     g.input.data_ptr<float>() + i * s.image());
        }
      }
    }
  });
  // Summed over chunks in order: the same result for the same thread count.
  const auto total = partial.sum(0);  // libtorch's sum of a 1 x M or K x M tensor, fixed order
  g.weight = total.narrow(0, 0, filter_floats)
                 .view({3, 3, s.in, s.out})
                 .permute({3, 2, 0, 1})
                 .contiguous(kChannelsLast);
  g.bias = total.narrow(0, filter_floats, s.out).clone();
  return g;
}

struct SmallConvFunction : torch::autograd::Function<SmallConvFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, bool pool) {
    const auto input = x.contiguous(kChannelsLast);
    const Shape s = shape_of(input, weight, pool);
    torch::Tensor winners;
    auto result = forward_pass(*kernel_table(), input, weight, bias, s, &winners);
    ctx->save_for_backward({input, weight, pool ? winners : result});
    ctx->saved_data["pool"] = pool;
    return result;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool pool = ctx->saved_data["pool"].toBool();
    const Shape s = shape_of(saved[0], saved[1], pool);
    const Gradients g = backward_pass(*kernel_table(), saved[0], saved[1], saved[2], grads[0], s,
                                      ctx->needs_input_grad(0));
    return {g.input, ctx->needs_input_grad(1) ? g.weight : torch::Tensor(),
            ctx->needs_input_grad(2) ? g.bias : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::string small_conv_isa() {
  const small_conv::KernelTable* k = kernel_table();
  return k ? k->isa : "";
}

bool small_conv_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  const small_conv::KernelTable* k = kernel_table();
  if (!k || x.dim() != 4 || weight.dim() != 4 || !x.device().is_cpu() ||
      x.scalar_type() != torch::kFloat || weight.scalar_type() != torch::kFloat ||
      autocast_dtype(x.device().type()).has_value())
    return false;
  const bool input_grad = torch::GradMode::is_enabled() && x.requires_grad();
  return weight.size(2) == 3 && weight.size(3) == 3 && x.size(1) == weight.size(1) &&
         x.size(2) >= 3 && x.size(3) >= 3 && weight.size(0) % k->vector_width == 0 &&
         (!input_grad || x.size(1) % k->vector_width == 0);
}

torch::Tensor small_conv3x3_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, bool pool) {
  const bool grad = torch::GradMode::is_enabled() &&
                    (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (grad) return SmallConvFunction::apply(x, weight, bias, pool);
  const auto input = x.contiguous(kChannelsLast);
  return forward_pass(*kernel_table(), input, weight, bias, shape_of(input, weight, pool), nullptr);
}

bool small_conv_chosen(Kernels kernels, int layer) {
  if (kernels == Kernels::kOwn) return true;
  if (kernels != Kernels::kAuto) return false;
  // bench --layers on an Intel Xeon (Sapphire Rapids, BENCHMARKS.md), forward + backward against
  // libtorch 1.13's oneDNN: conv1 about 2x faster with AVX-512 and AVX2 alike (its pre-pool map
  // never leaves cache), conv2 6-9% (AVX-512) and 3% (AVX2), conv3 about 20% and 1-4%. Every
  // layer, then; the per-layer hook stays for CPUs where one of them loses.
  (void)layer;
  return !small_conv_isa().empty();
}

}  // namespace cifar_exp
