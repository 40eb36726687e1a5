// VGG16's frozen convolution stack as a oneDNN inference pipeline (onednn_backbone.h).
#include "cifar_exp/models/kernels/onednn_backbone.h"

#include <algorithm>
#include <deque>
#include <mutex>

#include "cifar_exp/io/errors.h"

#ifdef CIFAR_EXP_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#if DNNL_VERSION_MAJOR != 2
#error "onednn_backbone.cpp is written for oneDNN 2.x (Debian 12's libdnnl-dev)"
#endif
#endif

namespace cifar_exp {

#ifndef CIFAR_EXP_WITH_ONEDNN

bool onednn_backbone_available() { return false; }
bool onednn_winograd_available() { return false; }
std::string onednn_description() { return "not in this build (no libdnnl-dev)"; }
std::string onednn_winograd_unavailable_reason() {
  return "this build has no oneDNN (install libdnnl-dev and rebuild)";
}

struct OnednnBackbone::State {};
OnednnBackbone::OnednnBackbone(bool) {}
OnednnBackbone::~OnednnBackbone() = default;
torch::Tensor OnednnBackbone::forward(const torch::Tensor&, const std::vector<BackboneLayer>&) {
  throw Error(ExitCode::kUsage, "the oneDNN backbone is not in this build (no libdnnl-dev)");
}
std::vector<std::string> OnednnBackbone::last_algorithms() const { return {}; }

#else

namespace {

using dnnl::memory;
using Dims = memory::dims;

Dims dims_of(const torch::Tensor& t) { return Dims(t.sizes().begin(), t.sizes().end()); }
Dims strides_of(const torch::Tensor& t) { return Dims(t.strides().begin(), t.strides().end()); }

// A user-side memory over a torch tensor's own storage (its strides, no copy).
memory::desc torch_desc(const torch::Tensor& t) {
  return memory::desc(dims_of(t), memory::data_type::f32, strides_of(t));
}

dnnl::convolution_forward::primitive_desc convolution_desc(const dnnl::engine& engine,
                                                           dnnl::algorithm algorithm, int64_t n,
                                                           int64_t in, int64_t out, int64_t h,
                                                           int64_t w) {
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  // Layouts left to oneDNN (tag::any): blocked for direct, its own for Winograd.
  memory::desc src({n, in, h, w}, f32, tag::any), weights({out, in, 3, 3}, f32, tag::any),
      bias({out}, f32, tag::x), dst({n, out, h, w}, f32, tag::any);
  dnnl::post_ops relu;
  relu.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(relu);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src, weights,
                                       bias, dst, {1, 1}, {1, 1}, {1, 1});
  return dnnl::convolution_forward::primitive_desc(desc, attr, engine);
}

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// oneDNN answers "unimplemented" when creating a primitive it has no kernel for on this CPU.
bool winograd_implemented(int64_t n, int64_t in, int64_t out, int64_t h, int64_t w) {
  try {
    convolution_desc(cpu_engine(), dnnl::algorithm::convolution_winograd, n, in, out, h, w);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

// Where Winograd pays (measured per layer against oneDNN's direct kernels on Zen 4): not on
// 3-channel inputs (the transforms dominate) nor on maps under 4 x 4 (one 6 x 6 tile for
// 4 of 36 useful outputs).
bool winograd_pays(int64_t in, int64_t h, int64_t w) { return in >= 64 && h >= 4 && w >= 4; }

}  // namespace

bool onednn_backbone_available() { return true; }

std::string onednn_description() {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      isa = "sse41";
      break;
    case dnnl::cpu_isa::avx:
      isa = "avx";
      break;
    case dnnl::cpu_isa::avx2:
      isa = "avx2";
      break;
    case dnnl::cpu_isa::avx512_core:
      isa = "avx512_core";
      break;
    case dnnl::cpu_isa::avx512_core_vnni:
      isa = "avx512_core_vnni";
      break;
    case dnnl::cpu_isa::avx512_core_bf16:
      isa = "avx512_core_bf16";
      break;
    case dnnl::cpu_isa::avx512_core_amx:
      isa = "avx512_core_amx";
      break;
    default:
      isa = "other";
      break;
  }
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + ", ISA " + isa;
}

bool onednn_winograd_available() {
  static const bool available = winograd_implemented(64, 64, 64, 32, 32);
  return available;
}

std::string onednn_winograd_unavailable_reason() {
  if (onednn_winograd_available()) return "";
  return "oneDNN " + std::to_string(dnnl::version()->major) + "." +
         std::to_string(dnnl::version()->minor) +
         " has no Winograd convolutions for this CPU (they need x86-64 with AVX-512)";
}

struct OnednnBackbone::State {
  bool winograd = false;
  dnnl::stream stream{cpu_engine()};
  std::mutex mutex;  // one forward at a time: the pipelines own their intermediate buffers

  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, memory> args;
    int conv = -1;  // the layer whose packed weights and bias it takes, or -1
  };
  struct Pipeline {
    Dims input_dims, input_strides;
    memory input, output;  // over the caller's tensors (handles set per forward)
    std::vector<Step> steps;
    std::vector<memory::desc> weight_descs;  // per conv: the layout its primitive wants
    std::vector<std::string> algorithms;
    Dims output_dims;
    // The intermediate activations alternate between two buffers (each step reads one and
    // writes the other), not one buffer per step: about 0.5 instead of 1.2 GB at batch 1,000.
    torch::Tensor buffers[2];
  };
  // Input shapes seen recently (training batch, an epoch's last batch, evaluation batches).
  static constexpr size_t kMaxPipelines = 4;
  std::deque<Pipeline> pipelines;
  std::vector<std::string> last_algorithms;

  // A layer's weights in one primitive layout, made from its tensors' current contents.
  struct Packed {
    memory::desc desc;
    memory weights, bias;
    const void* source = nullptr;
    int64_t version = -1;
  };
  std::vector<std::deque<Packed> > packed;  // per conv, per layout in use

  Pipeline& pipeline_for(const torch::Tensor& x, const std::vector<BackboneLayer>& layers);
  const Packed& packed_weights(size_t conv, const BackboneLayer& layer, const memory::desc& desc);
};

OnednnBackbone::State::Pipeline& OnednnBackbone::State::pipeline_for(
    const torch::Tensor& x, const std::vector<BackboneLayer>& layers) {
  const Dims dims = dims_of(x), strides = strides_of(x);
  for (auto& p : pipelines) {
    if (p.input_dims == dims && p.input_strides == strides &&
        p.weight_descs.size() == layers.size())
      return p;
  }
  if (pipelines.size() == kMaxPipelines) pipelines.pop_front();
  const auto& engine = cpu_engine();
  Pipeline p;
  p.input_dims = dims;
  p.input_strides = strides;
  p.input = memory(torch_desc(x), engine, DNNL_MEMORY_NONE);
  std::vector<memory> intermediates;  // in step order; placed in the two buffers below
  auto intermediate = [&](const memory::desc& desc) {
    intermediates.push_back(memory(desc, engine, DNNL_MEMORY_NONE));
    return intermediates.back();
  };
  memory current = p.input;
  auto reorder_to = [&](const memory::desc& desc) {
    if (current.get_desc() == desc) return;
    memory next = intermediate(desc);
    p.steps.push_back(
        {dnnl::reorder(current, next), {{DNNL_ARG_FROM, current}, {DNNL_ARG_TO, next}}});
    current = next;
  };
  const int64_t n = x.size(0);
  int64_t channels = x.size(1), h = x.size(2), w = x.size(3);
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t out = layers[i].weight.size(0);
    TORCH_CHECK(layers[i].weight.size(1) == channels, "OnednnBackbone: layer ", i, " takes ",
                layers[i].weight.size(1), " channels, gets ", channels);
    const bool winograd = this->winograd && winograd_pays(channels, h, w) &&
                          winograd_implemented(n, channels, out, h, w);
    const auto pd = convolution_desc(
        engine,
        winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct, n,
        channels, out, h, w);
    reorder_to(pd.src_desc());
    memory dst = intermediate(pd.dst_desc());
    p.steps.push_back({dnnl::convolution_forward(pd),
                       {{DNNL_ARG_SRC, current}, {DNNL_ARG_DST, dst}},
                       static_cast<int>(i)});
    p.weight_descs.push_back(pd.weights_desc());
    p.algorithms.push_back(winograd ? "winograd" : "direct");
    current = dst;
    channels = out;
    if (layers[i].pool_after) {
      TORCH_CHECK(h >= 2 && w >= 2, "OnednnBackbone: a ", h, " x ", w, " map cannot be pooled");
      const Dims pooled{n, channels, h / 2, w / 2};
      dnnl::pooling_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, current.get_desc(),
          memory::desc(pooled, memory::data_type::f32, memory::format_tag::any), {2, 2}, {2, 2},
          {0, 0}, {0, 0});
      dnnl::pooling_forward::primitive_desc ppd(desc, engine);
      memory pooled_memory = intermediate(ppd.dst_desc());
      p.steps.push_back(
          {dnnl::pooling_forward(ppd), {{DNNL_ARG_SRC, current}, {DNNL_ARG_DST, pooled_memory}}});
      current = pooled_memory;
      h /= 2;
      w /= 2;
    }
  }
  p.output_dims = {n, channels, h, w};
  p.output = memory(memory::desc(p.output_dims, memory::data_type::f32, memory::format_tag::nchw),
                    engine, DNNL_MEMORY_NONE);
  p.steps.push_back(
      {dnnl::reorder(current, p.output), {{DNNL_ARG_FROM, current}, {DNNL_ARG_TO, p.output}}});
  size_t largest = 0;
  for (const auto& m : intermediates) largest = std::max(largest, m.get_desc().get_size());
  for (auto& buffer : p.buffers) {
    buffer = torch::empty({static_cast<int64_t>(largest)}, torch::kByte);
  }
  for (size_t i = 0; i < intermediates.size(); ++i) {
    intermediates[i].set_data_handle(p.buffers[i % 2].data_ptr());
  }
  pipelines.push_back(std::move(p));
  return pipelines.back();
}

const OnednnBackbone::State::Packed& OnednnBackbone::State::packed_weights(
    size_t conv, const BackboneLayer& layer, const memory::desc& desc) {
  if (packed.size() <= conv) packed.resize(conv + 1);
  const void* source = layer.weight.data_ptr();
  const int64_t version = layer.weight._version() + layer.bias._version();
  Packed* slot = nullptr;
  for (auto& entry : packed[conv]) {
    if (entry.desc == desc) slot = &entry;
  }
  if (slot && slot->source == source && slot->version == version) return *slot;
  if (!slot) {
    packed[conv].push_back({desc, memory(desc, cpu_engine()), {}, nullptr, -1});
    slot = &packed[conv].back();
  }
  // Reorders write the primitive's layout; for Winograd this is also the weights' transform,
  // done once instead of every batch. oneDNN's Winograd reorder reads plain OIHW only, hence
  // contiguous() (a channels-last weight is OHWI in memory).
  const torch::Tensor weight = layer.weight.detach().contiguous();
  memory user_weights(torch_desc(weight), cpu_engine(), weight.data_ptr());
  dnnl::reorder(user_weights, slot->weights).execute(stream, user_weights, slot->weights);
  const torch::Tensor bias = layer.bias.detach().contiguous();
  memory user_bias(torch_desc(bias), cpu_engine(), bias.data_ptr());
  slot->bias = memory(torch_desc(bias), cpu_engine());
  dnnl::reorder(user_bias, slot->bias).execute(stream, user_bias, slot->bias);
  stream.wait();
  slot->source = source;
  slot->version = version;
  return *slot;
}

OnednnBackbone::OnednnBackbone(bool winograd) : state_(std::make_unique<State>()) {
  state_->winograd = winograd;
}

OnednnBackbone::~OnednnBackbone() = default;

torch::Tensor OnednnBackbone::forward(const torch::Tensor& x,
                                      const std::vector<BackboneLayer>& layers) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4,
              "OnednnBackbone: takes a CPU float32 N x C x H x W tensor, got ", x.sizes(), " ",
              x.scalar_type(), " on ", x.device());
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto& pipeline = state_->pipeline_for(x, layers);
  for (auto& step : pipeline.steps) {
    if (step.conv < 0) continue;
    const auto& packed =
        state_->packed_weights(step.conv, layers[step.conv], pipeline.weight_descs[step.conv]);
    step.args[DNNL_ARG_WEIGHTS] = packed.weights;
    step.args[DNNL_ARG_BIAS] = packed.bias;
  }
  torch::Tensor output = torch::empty(pipeline.output_dims, x.options());
  pipeline.input.set_data_handle(x.data_ptr());
  pipeline.output.set_data_handle(output.data_ptr());
  for (auto& step : pipeline.steps) step.primitive.execute(state_->stream, step.args);
  state_->stream.wait();
  // Drop the references to the caller's storage.
  pipeline.input.set_data_handle(nullptr);
  pipeline.output.set_data_handle(nullptr);
  state_->last_algorithms = pipeline.algorithms;
  return output;
}

std::vector<std::string> OnednnBackbone::last_algorithms() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->last_algorithms;
}

#endif  // CIFAR_EXP_WITH_ONEDNN

}  // namespace cifar_exp
