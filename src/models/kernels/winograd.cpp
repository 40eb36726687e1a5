// Our Winograd F(4x4, 3x3) backbone (winograd.h): dispatch, filter transforms, tile blocks
// and threads. The arithmetic is in winograd_simd.inc, compiled once per instruction set.
#include "cifar_exp/models/kernels/winograd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <mutex>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/kernels.h"
#include "models/kernels/winograd_simd.h"

namespace cifar_exp {

namespace k = winograd_simd;  // the kernels, their layouts' constants

namespace {

// `channels` rounded up to whole panels of U (the padding channels are zero). Here, not in
// winograd_simd.h: that header declares no inline code (see there).
int64_t padded_to_panels(int64_t channels) {
  return (channels + k::kPanelWidth - 1) / k::kPanelWidth * k::kPanelWidth;
}

// U[36][padded_out / 16][in][16] from out x in x 3 x 3 filters: G g G^T per filter, in double.
torch::Tensor transform_filters(const torch::Tensor& weight) {
  const auto g = torch::tensor({1.0 / 4, 0.0, 0.0,             //
                                -1.0 / 6, -1.0 / 6, -1.0 / 6,  //
                                -1.0 / 6, 1.0 / 6, -1.0 / 6,   //
                                1.0 / 24, 1.0 / 12, 1.0 / 6,   //
                                1.0 / 24, -1.0 / 12, 1.0 / 6,  //
                                0.0, 0.0, 1.0},
                               torch::kDouble)
                     .view({6, 3});
  const int64_t out = weight.size(0), in = weight.size(1), padded = padded_to_panels(out);
  auto u = torch::matmul(torch::matmul(g, weight.detach().to(torch::kDouble)), g.t());  // o,i,6,6
  u = u.permute({2, 3, 1, 0}).reshape({k::kPoints, in, out});
  if (padded != out) u = torch::constant_pad_nd(u, {0, padded - out});
  return u.view({k::kPoints, in, padded / k::kPanelWidth, k::kPanelWidth})
      .permute({0, 2, 1, 3})
      .contiguous()
      .to(torch::kFloat);
}

// Small maps (backbone_path.h: small_map): every output pixel sees every input pixel through one
// filter tap, so the layer is one matrix product, an image's NHWC pixels (h * w * in) times
// B[(i, j, c)][(y, x, k)] = W[k][c][i - y + 1][j - x + 1], with B packed in panels of 16 columns
// as U is (each pixel's outputs padded to 16).
torch::Tensor small_map_filters(const torch::Tensor& weight, int64_t height, int64_t width) {
  using torch::indexing::Slice;
  const int64_t out = weight.size(0), in = weight.size(1), padded = padded_to_panels(out);
  const torch::Tensor w = weight.detach().to(torch::kFloat);
  auto b = torch::zeros({height, width, in, height, width, padded}, torch::kFloat);
  for (int64_t i = 0; i < height; ++i) {
    for (int64_t j = 0; j < width; ++j) {
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          b.index_put_({i, j, Slice(), y, x, Slice(0, out)},
                       w.index({Slice(), Slice(), i - y + 1, j - x + 1}).t());
        }
      }
    }
  }
  const int64_t depth = height * width * in, columns = height * width * padded;
  return b.view({depth, columns / k::kPanelWidth, k::kPanelWidth}).permute({1, 0, 2}).contiguous();
}

// The kernel table for `isa` (kAvx2 or kAvx512); null where this build has none.
const k::KernelTable* kernels_for(CpuIsa isa) {
#if defined(__x86_64__)
  return isa == CpuIsa::kAvx512 ? k::avx512_kernels() : k::avx2_kernels();
#else
  (void)isa;
  return nullptr;
#endif
}

k::MapShape map_shape(int64_t height, int64_t width) {
  return {height, width, (height + 3) / 4, (width + 3) / 4};
}

struct PackedLayer {
  torch::Tensor u, bias;
  const void* source = nullptr;
  int64_t version = -1;
  int64_t small_height = 0, small_width = 0;  // the map small_map_filters packed for, else 0
};

// Changes with any in-place change of the layer's weight or bias (load_weights, a restore).
int64_t weights_version(const BackboneLayer& layer) {
  return layer.weight._version() + layer.bias._version();
}

void check_input(const torch::Tensor& x, const char* who) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4, who,
              ": takes a CPU float32 N x C x H x W tensor, got ", x.sizes(), " ", x.scalar_type(),
              " on ", x.device());
}

PackedLayer pack(const BackboneLayer& layer, int64_t height, int64_t width) {
  PackedLayer packed;
  if (small_map(height, width)) {
    packed.u = small_map_filters(layer.weight, height, width);
    packed.small_height = height;
    packed.small_width = width;
  } else {
    packed.u = transform_filters(layer.weight);
  }
  packed.bias = layer.bias.detach().to(torch::kFloat).contiguous();
  packed.source = layer.weight.data_ptr();
  packed.version = weights_version(layer);
  return packed;
}

bool packed_for(const PackedLayer& packed, const BackboneLayer& layer, int64_t height,
                int64_t width) {
  const bool small = small_map(height, width);
  return packed.source == layer.weight.data_ptr() && packed.version == weights_version(layer) &&
         packed.small_height == (small ? height : 0) && packed.small_width == (small ? width : 0);
}

// How a layer's work is cut: tile blocks of `block` tiles, and each block's output panels in
// `groups` groups; one work item is a (block, group) pair, block-major.
struct LayerPlan {
  int64_t block = 1, blocks = 1, groups = 1;
  int64_t panels = 1, panels_per_block = 1;  // group g: panels [first_panel(g), first_panel(g + 1))
  int64_t first_panel(int64_t g) const {
    // Cut at whole register blocks of the multiply kernel, so that only the last group can end
    // with a partial one.
    const int64_t units = (panels + panels_per_block - 1) / panels_per_block;
    return std::min(panels, g * units / groups * panels_per_block);
  }
};

// A block's V and M should stay in L2 (kBlockBytes) between the three steps, but a block re-reads
// all of U (36 x in x out floats), so blocks must not be too small where U is large (U's bytes
// per multiply-add are 4 / block). Where there are too few tiles for every thread to get blocks
// (deep layers: one tile per image), the threads share blocks by output panels instead, each
// reading its part of U once. Measured per layer with bench --layers (BENCHMARKS.md).
LayerPlan plan_layer(int64_t tiles, int64_t in, int64_t padded_out, int64_t panels_per_block) {
  constexpr int64_t kBlockBytes = int64_t(1) << 20, kMinTiles = 32;
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t bytes_per_tile = k::kPoints * (in + padded_out) * int64_t(sizeof(float));
  const int64_t target = std::max(kMinTiles, kBlockBytes / bytes_per_tile);
  LayerPlan plan;
  plan.panels = padded_out / k::kPanelWidth;
  plan.panels_per_block = panels_per_block;
  plan.blocks = (tiles + target - 1) / target;
  if (plan.blocks >= threads) {
    plan.blocks = (plan.blocks + threads - 1) / threads * threads;  // an equal share each
  } else {
    const int64_t units = (plan.panels + panels_per_block - 1) / panels_per_block;
    plan.groups = std::min(units, (threads + plan.blocks - 1) / plan.blocks);
  }
  plan.block = (tiles + plan.blocks - 1) / plan.blocks;
  plan.blocks = (tiles + plan.block - 1) / plan.block;
  return plan;
}

// Scratch for one thread's blocks, reused across calls.
float* scratch(std::vector<float>& buffer, int64_t floats) {
  if (int64_t(buffer.size()) < floats) buffer.resize(floats);
  return buffer.data();
}

// A small map's layer: the matrix product (threads split its output panels), then bias, ReLU and
// the pool through libtorch and kernels.h (a few thousand values).
torch::Tensor small_map_layer(const k::KernelTable& kernels, const torch::Tensor& input,
                              const PackedLayer& packed, int64_t out_channels, bool pool) {
  const int64_t n = input.size(0), h = input.size(2), w = input.size(3);
  const int64_t panels = packed.u.size(0), depth = packed.u.size(1),
                columns = k::kPanelWidth * panels;
  auto m = torch::empty({n, h, w, columns / (h * w)}, input.options());
  const float* a = input.data_ptr<float>();
  const float* u = packed.u.data_ptr<float>();
  float* m_data = m.data_ptr<float>();
  // Threads take whole register blocks of panels.
  const int64_t step = kernels.panels_per_block, units = (panels + step - 1) / step;
  at::parallel_for(0, units, 1, [&](int64_t begin, int64_t end) {
    kernels.multiply(a, u, 1, n, depth, columns, begin * step, std::min(panels, end * step),
                     m_data);
  });
  const auto y = (m.narrow(3, 0, out_channels) + packed.bias).permute({0, 3, 1, 2});
  return pool ? max_pool2_relu(y.contiguous(torch::MemoryFormat::ChannelsLast))
              : y.relu_().contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor winograd_layer(const k::KernelTable& kernels, const torch::Tensor& x,
                             const PackedLayer& packed, int64_t out_channels, bool pool) {
  const torch::Tensor input = x.contiguous(torch::MemoryFormat::ChannelsLast);
  if (packed.small_height) return small_map_layer(kernels, input, packed, out_channels, pool);
  const int64_t n = input.size(0), in = input.size(1);
  const k::MapShape map = map_shape(input.size(2), input.size(3));
  const int64_t padded_out = packed.u.size(1) * k::kPanelWidth;
  TORCH_CHECK(packed.u.size(2) == in, "winograd: filters take ", packed.u.size(2),
              " channels, input has ", in);
  TORCH_CHECK(!pool || (map.height >= 2 && map.width >= 2), "winograd: a ", map.height, " x ",
              map.width, " map cannot be pooled");
  const int64_t out_h = pool ? map.height / 2 : map.height;
  const int64_t out_w = pool ? map.width / 2 : map.width;
  auto output = torch::empty({n, out_channels, out_h, out_w},
                             input.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const std::vector<float> zeros(in, 0.0f);
  const int64_t tiles = n * map.tiles_y * map.tiles_x;
  const LayerPlan plan = plan_layer(tiles, in, padded_out, kernels.panels_per_block);
  const float* in_data = input.data_ptr<float>();
  const float* u = packed.u.data_ptr<float>();
  const float* bias = packed.bias.data_ptr<float>();
  float* out_data = output.data_ptr<float>();
  at::parallel_for(0, plan.blocks * plan.groups, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> v_buffer, m_buffer;
    float* v = scratch(v_buffer, k::kPoints * plan.block * in);
    float* m = scratch(m_buffer, k::kPoints * plan.block * padded_out);
    int64_t transformed = -1;  // the block whose V this thread holds
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / plan.groups, g = item % plan.groups;
      const int64_t first = b * plan.block, count = std::min(plan.block, tiles - first);
      if (transformed != b) {
        kernels.transform_input(in_data, map, in, first, count, zeros.data(), v);
        transformed = b;
      }
      const int64_t first_panel = plan.first_panel(g), end_panel = plan.first_panel(g + 1);
      if (first_panel == end_panel) continue;
      kernels.multiply(v, u, k::kPoints, count, in, padded_out, first_panel, end_panel, m);
      kernels.transform_output(m, bias, map, out_channels, padded_out, first, count,
                               k::kPanelWidth * first_panel,
                               std::min(out_channels, k::kPanelWidth * end_panel), pool, out_data);
    }
  });
  return output;
}

// The kernels for `isa`, or a ConfigError saying why they cannot run here.
const k::KernelTable& require_available(CpuIsa isa) {
  if (!our_winograd_available(isa)) {
    throw ConfigError(our_winograd_name(isa) +
                      " is not available: " + our_winograd_unavailable_reason(isa));
  }
  return *kernels_for(isa);
}

}  // namespace

std::string our_winograd_name(CpuIsa isa) {
  return isa == CpuIsa::kAvx512 ? "winograd_avx512" : "winograd_avx2";
}

bool our_winograd_available(CpuIsa isa) {
  return isa != CpuIsa::kBaseline && kernels_for(isa) && our_kernels_isa() >= isa;
}

std::string our_winograd_unavailable_reason(CpuIsa isa) {
#if !defined(__x86_64__)
  (void)isa;
  return "this build is not for x86-64";
#else
  return cpu_isa_shortfall(isa);
#endif
}

torch::Tensor winograd_conv3x3_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias, bool pool, CpuIsa isa) {
  const k::KernelTable& kernels = require_available(isa);
  check_input(x, "winograd");
  return winograd_layer(kernels, x, pack({weight, bias, pool}, x.size(2), x.size(3)),
                        weight.size(0), pool);
}

struct WinogradBackbone::State {
  CpuIsa isa = CpuIsa::kAvx2;
  const k::KernelTable* kernels = nullptr;
  bool every_layer = false;
  std::mutex mutex;  // one forward at a time (the packed filters are shared)
  std::vector<PackedLayer> packed;
  std::vector<std::string> last_algorithms;
};

WinogradBackbone::WinogradBackbone(CpuIsa isa, bool every_layer)
    : state_(std::make_unique<State>()) {
  state_->kernels = &require_available(isa);
  state_->isa = isa;
  state_->every_layer = every_layer;
}
WinogradBackbone::~WinogradBackbone() = default;

bool WinogradBackbone::winograd_pays(int64_t in_channels, int64_t height, int64_t width) {
  // Small maps take one matrix product instead (small_map); the 3-channel first layer
  // is bound by its transforms; maps of 3 x 3 waste most of a tile (measured in BENCHMARKS.md).
  return in_channels >= 16 && ((height >= 4 && width >= 4) || small_map(height, width));
}

torch::Tensor WinogradBackbone::forward(const torch::Tensor& x,
                                        const std::vector<BackboneLayer>& layers) {
  check_input(x, "WinogradBackbone");
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->packed.resize(layers.size());
  std::vector<std::string> algorithms;
  torch::Tensor current = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (size_t i = 0; i < layers.size(); ++i) {
    const BackboneLayer& layer = layers[i];
    const int64_t out = layer.weight.size(0);
    TORCH_CHECK(layer.weight.size(1) == current.size(1), "WinogradBackbone: layer ", i, " takes ",
                layer.weight.size(1), " channels, gets ", current.size(1));
    const int64_t h = current.size(2), w = current.size(3);
    if (state_->every_layer || winograd_pays(current.size(1), h, w)) {
      PackedLayer& packed = state_->packed[i];
      if (!packed_for(packed, layer, h, w)) packed = pack(layer, h, w);
      current = winograd_layer(*state_->kernels, current, packed, out, layer.pool_after);
      algorithms.push_back(small_map(h, w) ? std::string("matrix_") + state_->kernels->isa
                                           : name());
    } else {
      current = torch::conv2d(current, layer.weight.detach(), layer.bias.detach(), 1, 1);
      current = layer.pool_after ? max_pool2_relu(current) : current.relu_();
      algorithms.push_back("direct");
    }
  }
  state_->last_algorithms = std::move(algorithms);
  return current.contiguous();
}

std::string WinogradBackbone::name() const { return our_winograd_name(state_->isa); }

std::vector<std::string> WinogradBackbone::last_algorithms() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->last_algorithms;
}

}  // namespace cifar_exp
