// The models built on kernels.h's fused ReLU + max pool against the same models on libtorch's
// layers (model.kernels generic): the same logits and gradients, and the config's choice.
#include <gtest/gtest.h>

#include "cifar_exp/models/kernels/kernels.h"
#include "cifar_exp/models/models.h"

namespace cifar_exp {
namespace {

// Two models with the same weights, one per kernel choice: same logits, same gradients.
template <class Model>
void expect_same_training_step(Model fused, Model generic, torch::Tensor images) {
  {
    torch::NoGradGuard no_grad;
    auto from = generic->named_parameters();
    for (auto& p : fused->named_parameters()) p.value().copy_(from[p.key()]);
  }
  const auto labels = torch::arange(images.size(0)) % 10;
  auto fused_logits = fused->forward(images);
  auto generic_logits = generic->forward(images);
  EXPECT_TRUE(torch::allclose(fused_logits, generic_logits, 1e-5, 1e-5));
  torch::nn::functional::cross_entropy(fused_logits, labels).backward();
  torch::nn::functional::cross_entropy(generic_logits, labels).backward();
  auto generic_params = generic->named_parameters();
  for (auto& p : fused->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    EXPECT_TRUE(torch::allclose(p.value().grad(), generic_params[p.key()].grad(), 1e-5, 1e-5))
        << p.key();
  }
}

TEST(FusedKernelsInModels, SmallCnnTrainsTheSameFusedOrGeneric) {
  torch::manual_seed(1);
  expect_same_training_step(SmallCnn(Kernels::kFused), SmallCnn(Kernels::kGeneric),
                            torch::rand({6, 3, 32, 32}));
}

TEST(FusedKernelsInModels, FrozenVgg16FeaturesAreTheSameFusedOrGeneric) {
  torch::manual_seed(2);
  Vgg16Backbone fused(Kernels::kFused), generic(Kernels::kGeneric);
  {
    torch::NoGradGuard no_grad;
    auto from = generic->named_parameters();
    for (auto& p : fused->named_parameters()) p.value().copy_(from[p.key()]);
  }
  const auto images = torch::rand({3, 3, 32, 32});
  torch::NoGradGuard no_grad;
  const auto a = fused->forward(images), b = generic->forward(images);
  EXPECT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << (a - b).abs().max().item<float>();
}

TEST(FusedKernelsInModels, ConfigChoosesTheKernels) {
  ModelConfig config;
  config.kernels = Kernels::kGeneric;
  auto model = build_model(config);
  EXPECT_EQ(dynamic_cast<SmallCnnImpl&>(*model).kernels, Kernels::kGeneric);
  config.kernels = Kernels::kFused;
  EXPECT_EQ(dynamic_cast<SmallCnnImpl&>(*build_model(config)).kernels, Kernels::kFused);
}

}  // namespace
}  // namespace cifar_exp
