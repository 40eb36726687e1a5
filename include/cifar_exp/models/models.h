// Classifiers. Each is a libtorch module (XImpl + TORCH_MODULE) taking float images
// N x 3 x 32 x 32 in [0, 1] and returning N x 10 logits.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"
#include "cifar_exp/models/kernels/backbone_path.h"
#include "cifar_exp/models/kernels/convolution_path.h"
#include "cifar_exp/models/kernels/kernels.h"
#include "cifar_exp/models/weights.h"

namespace cifar_exp {

struct ClassifierImpl;

// A model's leading stage that can run on its own: VGG16's backbone with its preprocessing. A
// caller can push each image through it once (features) and train what follows (head) on the
// result when the stage is frozen, or write the features out (extract-features).
class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  // Flattened output (N x feature_size()) for float images in [0, 1], without autograd when frozen.
  virtual torch::Tensor features(torch::Tensor images) = 0;
  virtual int64_t feature_size() const = 0;
  // Names the stage in feature cache files ("vgg16" -> vgg16-<key>.pt).
  virtual std::string feature_name() const = 0;
  // What the output depends on besides the stage's parameters and the images (the
  // preprocessing): part of feature cache keys.
  virtual std::string feature_settings() const = 0;
  virtual std::vector<torch::Tensor> feature_parameters() const = 0;
  virtual bool features_frozen() const = 0;
  // The rest of the model, which consumes the features.
  virtual ClassifierImpl& feature_head() = 0;
};

// What the training loop needs from any model.
struct ClassifierImpl : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  // Short description for logs and summaries, e.g. "small_cnn".
  virtual std::string kind() const = 0;
  // Images per inference batch (evaluation, feature extraction) for a configured
  // training.eval_batch_size, which is meant for 32 x 32 inputs; models that enlarge their
  // input scale it down so that activations fit in memory.
  virtual int64_t inference_batch_size(int64_t configured) const { return configured; }
  // How the model consumes its inputs: images only (nullptr), or through a feature source that
  // callers may run on its own.
  virtual FeatureSource* feature_source() { return nullptr; }
};

// The notebook's Keras model: Conv 3x3 32 ReLU, MaxPool 2, Conv 3x3 64 ReLU, MaxPool 2,
// Conv 3x3 64 ReLU, Flatten, Dense 64 ReLU, Dense 10; valid padding; 122,570 parameters.
struct SmallCnnImpl : ClassifierImpl {
  explicit SmallCnnImpl(Kernels kernels = Kernels::kFused);
  torch::Tensor forward(torch::Tensor images) override;
  std::string kind() const override { return "small_cnn"; }
  // Keras defaults: Glorot-uniform kernels, zero biases.
  void reset_keras();

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear dense1{nullptr}, dense2{nullptr};
  Kernels kernels = Kernels::kFused;  // see choices.h, kernels.h, small_conv.h

  // Which kernels each convolution takes in a training step on `device` ("own_avx512",
  // "own_avx2" or "libtorch"): ours only on the CPU in fp32 (not under bf16 autocast).
  std::vector<std::string> convolution_kernels(const torch::Device& device, bool fp32) const;

  // Convolution `layer` (0-2) + bias + ReLU (+ the 2x2 max pool after layers 0 and 1), through
  // ours or libtorch's, as forward runs it (bench --layers times it alone).
  torch::Tensor convolve(int layer, torch::Tensor x);
};
TORCH_MODULE(SmallCnn);

// VGG16's 13-convolution feature extractor: 3x3 same-padding convolutions 64,64 | 128,128 |
// 256 x3 | 512 x3 | 512 x3, ReLU, 2x2 max pool after each block. Takes preprocessed images.
struct Vgg16BackboneImpl : torch::nn::Module {
  // Throws ConfigError for a Winograd convolution this build or CPU does not have.
  explicit Vgg16BackboneImpl(Kernels kernels = Kernels::kFused,
                             Convolution convolution = Convolution::kDirect);
  torch::Tensor forward(torch::Tensor x);
  // Copies pretrained tensors in (names and shapes already checked by the loader).
  void load_weights(const Vgg16Weights& weights);
  // Keras' default initialisation, for "weights": "random".
  void reset_keras();
  // Freezes every block but the last `trainable_blocks` (0 = all frozen).
  void freeze(int64_t trainable_blocks);

  std::vector<torch::nn::Conv2d> convs;  // registered as block1_conv1 ... block5_conv3
  Kernels kernels = Kernels::kFused;     // see kernels.h

  // The path forward passes take where backbone_path_applies (convolution_path.h); any other
  // pass convolves through the modules.
  const BackboneConvolution& convolution() const { return convolution_; }
  ConvolutionPath convolution_path() const { return convolution_.path; }
  bool winograd() const { return convolution_.path != ConvolutionPath::kDirect; }
  bool small_maps_avx2() const { return convolution_.small_maps_avx2; }
  // The first layer whose input map is small (backbone_path.h) for an input of height x width,
  // or the number of layers.
  size_t first_small_map(int64_t height, int64_t width) const;
  // Whether forward(x) would take that Winograd path.
  bool winograd_applies(const torch::Tensor& x) const;
  // The convolutions with their pools, as a BackbonePath takes them.
  std::vector<BackboneLayer> layers() const;

 private:
  BackboneConvolution convolution_;
  std::shared_ptr<BackbonePath> path_;  // unless convolution_.path is kDirect

  // Copies of a frozen convolution's weight and bias in the autocast dtype (bf16), for forward
  // passes without autograd under autocast: autocast casts only weights that require grad
  // once per scope, a frozen backbone's 14.7 M every batch. Remade when the parameter changes
  // (its version: load_weights, a checkpoint restore) or moves (device, storage).
  struct CastWeights {
    torch::Tensor weight, bias;
    const void* source = nullptr;
    int64_t version = -1;
  };
  const CastWeights& cast_weights(size_t conv, at::ScalarType dtype);
  std::vector<CastWeights> cast_weights_;
};
TORCH_MODULE(Vgg16Backbone);

// The notebook's head: Flatten, Dense hidden ReLU, Dropout, Dense 10. Also trained alone on
// cached backbone features.
// Its dropout is ours (kernels.h) unless `kernels` is kGeneric.
struct DenseHeadImpl : ClassifierImpl {
  DenseHeadImpl(int64_t in_features, int64_t hidden_units, double dropout,
                Kernels kernels = Kernels::kAuto);
  torch::Tensor forward(torch::Tensor features) override;
  std::string kind() const override { return "dense_head"; }

  torch::nn::Linear hidden{nullptr}, output{nullptr};
  torch::nn::Dropout dropout{nullptr};  // its rate; forward applies it through kernels.h

 private:
  Kernels kernels_;
};
TORCH_MODULE(DenseHead);

// Frozen (or partly fine-tuned) VGG16 under a dense head. Input: RGB images in [0, 1]; the
// model applies the backbone's preprocessing and optional resize itself.
struct Vgg16TransferImpl : ClassifierImpl, FeatureSource {
  // `preprocess` is caffe, imagenet or unit (resolved from auto: resolve_preprocess).
  Vgg16TransferImpl(const ModelConfig& config, Preprocess preprocess);
  torch::Tensor forward(torch::Tensor images) override;
  std::string kind() const override { return "vgg16_transfer"; }
  // Scaled by (32 / input_size)^2: at 224 x 224 a batch of 1000 would need ~38 GB.
  int64_t inference_batch_size(int64_t configured) const override;

  FeatureSource* feature_source() override { return this; }

  // FeatureSource: preprocessing, resize and backbone, flattened to N x feature_size(); without
  // autograd when the backbone is frozen.
  torch::Tensor features(torch::Tensor images) override;
  int64_t feature_size() const override;
  std::string feature_name() const override { return "vgg16"; }
  // The fused kernels compute the same function in another summation order (channels-last
  // convolutions), so their features get cache keys of their own; generic keeps the old keys.
  // Winograd convolutions sum differently again: describe(..., DescriptionFor::kCacheKey).
  std::string feature_settings() const override;
  std::vector<torch::Tensor> feature_parameters() const override { return backbone->parameters(); }
  bool features_frozen() const override { return trainable_blocks_ == 0; }
  ClassifierImpl& feature_head() override { return *head; }

  torch::Tensor preprocess(torch::Tensor images) const;
  Preprocess preprocessing() const { return preprocess_; }

  Vgg16Backbone backbone{nullptr};
  DenseHead head{nullptr};

 private:
  Preprocess preprocess_;
  // The preprocessing constants, made once per device and dtype (not per forward pass, which
  // would copy them to the GPU and wait for it every batch).
  mutable torch::Tensor preprocess_mean_, preprocess_std_;
  int64_t input_size_;
  int64_t trainable_blocks_;
};
TORCH_MODULE(Vgg16Transfer);

struct ParameterCounts {
  int64_t trainable = 0;
  int64_t frozen = 0;
};
ParameterCounts count_parameters(const torch::nn::Module& module);

// The convolutions `model`'s frozen VGG16 backbone runs on `device` at `precision` (its
// model.convolution where backbone_path_applies), else direct (another model, a GPU, bf16,
// trainable blocks): what the run log, provenance and bench describe.
BackboneConvolution backbone_convolution(ClassifierImpl& model, const torch::Device& device,
                                         Precision precision);

// Builds the model the config describes, freshly initialised from the global torch seed; for
// vgg16_transfer also loads the backbone weights (or keeps them random for "weights": "random").
std::shared_ptr<ClassifierImpl> build_model(const ModelConfig& config);

}  // namespace cifar_exp
