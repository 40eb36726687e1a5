#include "cifar_exp/models.h"

#include "cifar_exp/errors.h"

namespace cifar_exp {

namespace nn = torch::nn;

SmallCnnImpl::SmallCnnImpl() {
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 32, 3)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3)));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(64, 64, 3)));
  // 32 -> 30 -> 15 -> 13 -> 6 -> 4: 64 x 4 x 4 features.
  dense1 = register_module("dense1", nn::Linear(64 * 4 * 4, 64));
  dense2 = register_module("dense2", nn::Linear(64, 10));
  reset_keras();
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

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1(x)), 2);
  x = torch::max_pool2d(torch::relu(conv2(x)), 2);
  x = torch::relu(conv3(x));
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
  if (config.type == "small_cnn") return std::make_shared<SmallCnnImpl>();
  throw ConfigError("model.type: \"" + config.type + "\" is not available in this build");
}

}  // namespace cifar_exp
