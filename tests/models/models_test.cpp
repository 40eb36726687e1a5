// Tests for models.h: shapes, parameter counts, Keras initialisation.
#include "cifar_exp/models/models.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cifar_exp {
namespace {

TEST(SmallCnn, OutputShapeAndParameterCount) {
  SmallCnn model;
  auto logits = model->forward(torch::rand({5, 3, 32, 32}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{5, 10}));
  const auto counts = count_parameters(*model);
  EXPECT_EQ(counts.trainable, 122570);
  EXPECT_EQ(counts.frozen, 0);
}

TEST(SmallCnn, KerasInitialisation) {
  torch::manual_seed(0);
  SmallCnn model;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      EXPECT_EQ(p.value().abs().max().item<float>(), 0.0f) << p.key();
    } else {
      // Glorot uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).
      const auto& w = p.value();
      const double receptive = w.dim() == 4 ? double(w.size(2) * w.size(3)) : 1.0;
      const double limit = std::sqrt(6.0 / ((w.size(1) + w.size(0)) * receptive));
      EXPECT_LE(w.abs().max().item<double>(), limit) << p.key();
      EXPECT_GT(w.abs().max().item<double>(), 0.9 * limit) << p.key();
    }
  }
}

TEST(SmallCnn, SameSeedSameWeights) {
  torch::manual_seed(3);
  SmallCnn a;
  torch::manual_seed(3);
  SmallCnn b;
  torch::manual_seed(4);
  SmallCnn c;
  EXPECT_TRUE(torch::equal(a->conv1->weight, b->conv1->weight));
  EXPECT_FALSE(torch::equal(a->conv1->weight, c->conv1->weight));
}

TEST(Models, BuildModelFromConfig) {
  ModelConfig config;
  auto model = build_model(config);
  EXPECT_EQ(model->kind(), "small_cnn");
  EXPECT_EQ(count_parameters(*model).trainable, 122570);
}

}  // namespace
}  // namespace cifar_exp
