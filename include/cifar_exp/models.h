// Classifiers. Each is a libtorch module (XImpl + TORCH_MODULE) taking float images
// N x 3 x 32 x 32 in [0, 1] and returning N x 10 logits.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "cifar_exp/config.h"

namespace cifar_exp {

// What the training loop needs from any model.
struct ClassifierImpl : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  // Short description for logs and summaries, e.g. "small_cnn".
  virtual std::string kind() const = 0;
};

// The notebook's Keras model: Conv 3x3 32 ReLU, MaxPool 2, Conv 3x3 64 ReLU, MaxPool 2,
// Conv 3x3 64 ReLU, Flatten, Dense 64 ReLU, Dense 10; valid padding; 122,570 parameters.
struct SmallCnnImpl : ClassifierImpl {
  SmallCnnImpl();
  torch::Tensor forward(torch::Tensor images) override;
  std::string kind() const override { return "small_cnn"; }
  // Keras defaults: Glorot-uniform kernels, zero biases.
  void reset_keras();

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear dense1{nullptr}, dense2{nullptr};
};
TORCH_MODULE(SmallCnn);

struct ParameterCounts {
  int64_t trainable = 0;
  int64_t frozen = 0;
};
ParameterCounts count_parameters(const torch::nn::Module& module);

// Builds the model the config describes, freshly initialised from the global torch seed.
std::shared_ptr<ClassifierImpl> build_model(const ModelConfig& config);

}  // namespace cifar_exp
