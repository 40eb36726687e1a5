// The small CNN, the VGG16 backbone, the dense head and the transfer model (models.h).
#include "cifar_exp/models/models.h"

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/models/kernels/cpu_isa.h"
#include "cifar_exp/models/kernels/kernels.h"
#include "cifar_exp/models/kernels/small_conv.h"

namespace cifar_exp {

namespace nn = torch::nn;

SmallCnnImpl::SmallCnnImpl(Kernels kernels) : kernels(kernels) {
  if (kernels == Kernels::kOwn && small_conv_isa().empty()) {
    throw ConfigError("model.kernels: \"own\" needs our small-CNN kernels, and " +
                      cpu_isa_shortfall(CpuIsa::kAvx2));
  }
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 32, 3)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3)));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(64, 64, 3)));
  // 32 -> 30 -> 15 -> 13 -> 6 -> 4: 64 x 4 x 4 features.
  dense1 = register_module("dense1", nn::Linear(64 * 4 * 4, 64));
  dense2 = register_module("dense2", nn::Linear(64, 10));
  reset_keras();
  // Channels-last (NHWC) convolution weights and inputs: oneDNN's preferred layout, measured
  // ~18% faster training on the CPU (see BENCHMARKS.md). Results are the same function.
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

void SmallCnnImpl::reset_keras() {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      p.value().zero_();
    } else {
      nn::init::xavier_uniform_(p.value());
    }
  }
}

torch::Tensor SmallCnnImpl::convolve(int layer, torch::Tensor x) {
  nn::Conv2d& conv = layer == 0 ? conv1 : layer == 1 ? conv2 : conv3;
  const bool pool = layer < 2;
  if (small_conv_chosen(kernels, layer) && small_conv_applies(x, conv->weight)) {
    return small_conv3x3_relu(x, conv->weight, conv->bias, pool);
  }
  x = conv(x);
  return pool ? max_pool2_relu(x, kernels) : torch::relu(x);
}

std::vector<std::string> SmallCnnImpl::convolution_kernels(const torch::Device& device,
                                                           bool fp32) const {
  std::vector<std::string> names;
  const nn::Conv2d convs[3] = {conv1, conv2, conv3};
  for (int layer = 0; layer < 3; ++layer) {
    const auto& weight = convs[layer]->weight;
    // A one-image input of the layer's shape (32, 15 and 6 pixels square), needing a gradient
    // after the first layer as in training.
    const int64_t side = layer == 0 ? 32 : layer == 1 ? 15 : 6;
    const auto x =
        torch::empty({1, weight.size(1), side, side}, torch::kFloat).requires_grad_(layer > 0);
    const bool ours = device.is_cpu() && fp32 && small_conv_chosen(kernels, layer) &&
                      small_conv_applies(x, weight);
    names.push_back(ours ? "own_" + small_conv_isa() : "libtorch");
  }
  return names;
}

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (int layer = 0; layer < 3; ++layer) x = convolve(layer, x);
  x = torch::relu(dense1(x.flatten(1)));
  return dense2(x);
}

ParameterCounts count_parameters(const nn::Module& module) {
  ParameterCounts counts;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    (p.requires_grad() ? counts.trainable : counts.frozen) += p.numel();
  }
  return counts;
}

std::shared_ptr<ClassifierImpl> build_model(const ModelConfig& config) {
  if (config.type == ModelType::kSmallCnn) return std::make_shared<SmallCnnImpl>(config.kernels);
  if (config.type == ModelType::kVgg16Transfer) {
    auto model = std::make_shared<Vgg16TransferImpl>(config, resolve_preprocess(config));
    if (config.weights != "random") {
      model->backbone->load_weights(load_vgg16_weights(config.weights, config.weights_format));
    }
    return model;
  }
  throw ConfigError("model.type: \"" + to_string(config.type) +
                    "\" is not available in this build");
}

}  // namespace cifar_exp

namespace cifar_exp {

namespace nn = torch::nn;

Vgg16BackboneImpl::Vgg16BackboneImpl(Kernels kernels, Convolution convolution)
    : kernels(kernels), convolution_(resolve_backbone_convolution(convolution)) {
  if (winograd()) path_ = make_backbone_path(convolution_);
  for (const auto& conv : vgg16_convs()) {
    convs.push_back(
        register_module(conv.name, nn::Conv2d(nn::Conv2dOptions(conv.in, conv.out, 3).padding(1))));
  }
  reset_keras();
  if (kernels != Kernels::kGeneric) {
    // Channels-last weights (and inputs, in forward): oneDNN's preferred layout, and the one the
    // fused pool + ReLU kernel takes. load_weights copies into these tensors, keeping it.
    for (auto& p : parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

const Vgg16BackboneImpl::CastWeights& Vgg16BackboneImpl::cast_weights(size_t conv,
                                                                      at::ScalarType dtype) {
  if (cast_weights_.size() != convs.size()) cast_weights_.resize(convs.size());
  CastWeights& cast = cast_weights_[conv];
  const torch::Tensor& weight = convs[conv]->weight;
  const torch::Tensor& bias = convs[conv]->bias;
  const int64_t version = weight._version() + bias._version();
  if (cast.source != weight.data_ptr() || cast.version != version ||
      cast.weight.scalar_type() != dtype) {
    cast.weight = weight.to(dtype);  // keeps the weight's layout (channels-last when fused)
    cast.bias = bias.to(dtype);
    cast.source = weight.data_ptr();
    cast.version = version;
  }
  return cast;
}

bool Vgg16BackboneImpl::winograd_applies(const torch::Tensor& x) const {
  if (!path_ || x.dim() != 4) return false;
  bool needs_grad = x.requires_grad();
  for (const auto& conv : convs) {
    needs_grad = needs_grad || conv->weight.requires_grad() || conv->bias.requires_grad();
  }
  const bool fp32 =
      x.scalar_type() == torch::kFloat && !autocast_dtype(x.device().type()).has_value();
  return backbone_path_applies(x.device().is_cpu(), fp32, needs_grad);
}

size_t Vgg16BackboneImpl::first_small_map(int64_t height, int64_t width) const {
  return cifar_exp::first_small_map(layers(), height, width);
}

std::vector<BackboneLayer> Vgg16BackboneImpl::layers() const {
  std::vector<BackboneLayer> layers;
  for (size_t i = 0; i < convs.size(); ++i) {
    layers.push_back({convs[i]->weight, convs[i]->bias, vgg16_block_ends(i)});
  }
  return layers;
}

torch::Tensor Vgg16BackboneImpl::forward(torch::Tensor x) {
  if (winograd_applies(x)) return path_->forward(x, layers());
  const bool fused = kernels != Kernels::kGeneric;
  // Without autograd (a frozen backbone) each ReLU can overwrite its convolution's output, and
  // under autocast the convolutions take weights cast once (cast_weights).
  const bool no_grad = !torch::GradMode::is_enabled();
  const bool in_place = fused && no_grad;
  const auto autocast = no_grad ? autocast_dtype(x.device().type()) : std::nullopt;
  const bool cast = autocast.has_value();
  const at::ScalarType cast_dtype = autocast.value_or(at::kFloat);
  if (fused) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (size_t i = 0; i < convs.size(); ++i) {
    if (cast) {
      const CastWeights& w = cast_weights(i, cast_dtype);
      x = torch::conv2d(x.to(cast_dtype), w.weight, w.bias, /*stride=*/1, /*padding=*/1);
    } else {
      x = convs[i](x);
    }
    if (vgg16_block_ends(i)) {
      // bf16 (autocast) has no fused kernel: ReLU in place, then libtorch's pool.
      x = in_place && !fused_max_pool2_relu_applies(x) ? torch::max_pool2d(x.relu_(), 2)
                                                       : max_pool2_relu(x, kernels);
    } else {
      x = in_place ? x.relu_() : torch::relu(x);
    }
  }
  return x;
}

void Vgg16BackboneImpl::load_weights(const Vgg16Weights& weights) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < convs.size(); ++i) {
    const auto& name = vgg16_convs()[i].name;
    convs[i]->weight.copy_(weights.at(name + ".weight"));
    convs[i]->bias.copy_(weights.at(name + ".bias"));
  }
}

void Vgg16BackboneImpl::reset_keras() {
  torch::NoGradGuard no_grad;
  for (auto& conv : convs) {
    nn::init::xavier_uniform_(conv->weight);
    conv->bias.zero_();
  }
}

void Vgg16BackboneImpl::freeze(int64_t trainable_blocks) {
  const int first_trainable = 6 - int(trainable_blocks);
  for (size_t i = 0; i < convs.size(); ++i) {
    const bool trainable = vgg16_convs()[i].block >= first_trainable;
    for (auto& p : convs[i]->parameters()) p.set_requires_grad(trainable);
  }
}

DenseHeadImpl::DenseHeadImpl(int64_t in_features, int64_t hidden_units, double dropout_rate,
                             Kernels kernels)
    : kernels_(kernels) {
  hidden = register_module("hidden", nn::Linear(in_features, hidden_units));
  dropout = register_module("dropout", nn::Dropout(dropout_rate));
  output = register_module("output", nn::Linear(hidden_units, 10));
  torch::NoGradGuard no_grad;
  for (auto* layer : {&hidden, &output}) {
    nn::init::xavier_uniform_((*layer)->weight);
    (*layer)->bias.zero_();
  }
}

torch::Tensor DenseHeadImpl::forward(torch::Tensor features) {
  const auto h = torch::relu(hidden(features.flatten(1)));
  return output(cifar_exp::dropout(h, dropout->options.p(), is_training(), kernels_));
}

Vgg16TransferImpl::Vgg16TransferImpl(const ModelConfig& config, Preprocess preprocess)
    : preprocess_(preprocess),
      input_size_(config.input_size),
      trainable_blocks_(config.trainable_blocks) {
  backbone = register_module("backbone", Vgg16Backbone(config.kernels, config.convolution));
  head = register_module(
      "head", DenseHead(feature_size(), config.hidden_units, config.dropout, config.kernels));
  backbone->freeze(trainable_blocks_);
}

int64_t Vgg16TransferImpl::feature_size() const {
  const int64_t side = input_size_ / 32;  // five 2x2 pools
  return 512 * side * side;
}

int64_t Vgg16TransferImpl::inference_batch_size(int64_t configured) const {
  const int64_t area_ratio = (input_size_ * input_size_ + 32 * 32 - 1) / (32 * 32);
  return std::max<int64_t>(1, configured / std::max<int64_t>(1, area_ratio));
}

torch::Tensor Vgg16TransferImpl::preprocess(torch::Tensor x) const {
  const bool caffe = preprocess_ == Preprocess::kCaffe;
  if (caffe || preprocess_ == Preprocess::kImagenet) {
    if (!preprocess_mean_.defined() || preprocess_mean_.device() != x.device() ||
        preprocess_mean_.scalar_type() != x.scalar_type()) {
      auto mean = caffe ? torch::tensor({103.939f, 116.779f, 123.68f})
                        : torch::tensor({0.485f, 0.456f, 0.406f});
      preprocess_mean_ = mean.view({1, 3, 1, 1}).to(x.device(), x.scalar_type());
      preprocess_std_ = torch::tensor({0.229f, 0.224f, 0.225f})
                            .view({1, 3, 1, 1})
                            .to(x.device(), x.scalar_type());
    }
    if (caffe) {
      // Keras vgg16.preprocess_input: RGB -> BGR, 0-255, minus the BGR ImageNet means.
      x = x.flip({1}).mul(255.0f).sub(preprocess_mean_);
    } else {
      // torchvision: 0-1 RGB, normalised by the ImageNet mean and standard deviation.
      x = x.sub(preprocess_mean_).div(preprocess_std_);
    }
  }
  if (input_size_ != x.size(2) || input_size_ != x.size(3)) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{input_size_, input_size_})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  return x;
}

std::string Vgg16TransferImpl::feature_settings() const {
  std::string settings = to_string(preprocess_);
  if (backbone->kernels != Kernels::kGeneric)
    settings += ",kernels=fused";  // own/auto: the same for VGG16
  return settings + describe(backbone->convolution(), DescriptionFor::kCacheKey);
}

torch::Tensor Vgg16TransferImpl::features(torch::Tensor images) {
  if (features_frozen()) {
    // Frozen: inference mode, no autograd graph kept for 14.7 M parameters.
    torch::NoGradGuard no_grad;
    return backbone->forward(preprocess(images)).flatten(1);
  }
  return backbone->forward(preprocess(images)).flatten(1);
}

torch::Tensor Vgg16TransferImpl::forward(torch::Tensor images) {
  return head->forward(features(images));
}

BackboneConvolution backbone_convolution(ClassifierImpl& model, const torch::Device& device,
                                         Precision precision) {
  auto* vgg = dynamic_cast<Vgg16TransferImpl*>(&model);
  const bool applies = vgg && backbone_path_applies(device.is_cpu(), precision == Precision::kFp32,
                                                    /*needs_grad=*/!vgg->features_frozen());
  return applies ? vgg->backbone->convolution() : BackboneConvolution();
}

}  // namespace cifar_exp
