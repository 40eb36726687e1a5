// Tests for optimizers.h: our one-pass Adam and AdamW step against libtorch's own, step for step,
// its state interchangeable with libtorch's (checkpoints), and the fallback to libtorch's step.
// (Every optimizer against Python's torch.optim: tests/optimizer_reference.py.)
#include "cifar_exp/training/optimizers.h"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>

namespace cifar_exp {
namespace {

TrainingConfig training(const nlohmann::json& keys) {
  return parse_config({{"name", "t"}, {"training", keys}}, "test").training;
}

std::vector<torch::Tensor> parameters(uint64_t seed, torch::Dtype dtype = torch::kFloat) {
  torch::manual_seed(seed);
  return {torch::randn({64, 33}, dtype).requires_grad_(true),  // odd sizes: partial vectors
          torch::randn({7}, dtype).requires_grad_(true),
          // channels-last, as the models keep convolution weights
          torch::randn({4, 3, 3, 3}, dtype)
              .contiguous(torch::MemoryFormat::ChannelsLast)
              .requires_grad_(true)};
}

// `steps` steps of the same pseudo-random gradients (the k-th step's from seed 100 + k).
void run_steps(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor>& params, int first,
               int steps) {
  for (int k = first; k < first + steps; ++k) {
    torch::manual_seed(100 + k);
    for (auto& p : params) p.mutable_grad() = torch::randn_like(p) * (k % 3 + 1);
    optimizer.step();
  }
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  }
  return worst;
}

TEST(Optimizers, OurAdamAndAdamWFollowLibtorchsStepForStep) {
  namespace optim = torch::optim;
  using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<torch::Tensor>)>;
  struct Case {
    nlohmann::json keys;
    Make libtorch;
  };
  const std::vector<Case> cases = {
      {{{"optimizer", "adam"}, {"learning_rate", 0.01}, {"epsilon", 1e-7}},
       [](std::vector<torch::Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::Adam>(
             p, optim::AdamOptions(0.01).betas({0.9, 0.999}).eps(1e-7));
       }},
      {{{"optimizer", "adamw"},
        {"learning_rate", 0.02},
        {"beta1", 0.8},
        {"beta2", 0.99},
        {"weight_decay", 0.1}},
       [](std::vector<torch::Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::AdamW>(
             p, optim::AdamWOptions(0.02).betas({0.8, 0.99}).eps(1e-7).weight_decay(0.1));
       }}};
  for (const auto& c : cases) {
    auto ours = parameters(1), theirs = parameters(1);
    auto our_optimizer = make_optimizer(ours, training(c.keys));
    auto their_optimizer = c.libtorch(theirs);
    run_steps(*our_optimizer, ours, 0, 40);
    run_steps(*their_optimizer, theirs, 0, 40);
    // Moved by about 0.4 (40 steps of 0.01-0.02), equal to float rounding.
    EXPECT_GT(max_difference(ours, parameters(1)), 0.1) << c.keys.dump();
    EXPECT_LT(max_difference(ours, theirs), 2e-6) << c.keys.dump();
  }
}

TEST(Optimizers, OurAdamsStateIsLibtorchsSoCheckpointsLoadEitherWay) {
  const auto config = training({{"optimizer", "adam"}, {"learning_rate", 0.01}});
  auto ours = parameters(2);
  auto our_optimizer = make_optimizer(ours, config);
  run_steps(*our_optimizer, ours, 0, 5);
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    our_optimizer->save(archive);
    archive.save_to(saved);
  }
  // libtorch's own Adam resumes from our state: 5 more steps on each agree.
  std::vector<torch::Tensor> theirs;
  for (const auto& p : ours) theirs.push_back(p.detach().clone().requires_grad_(true));
  torch::optim::Adam their_optimizer(theirs,
                                     torch::optim::AdamOptions(0.01).betas({0.9, 0.999}).eps(1e-7));
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    their_optimizer.load(archive);
  }
  run_steps(*our_optimizer, ours, 5, 5);
  run_steps(their_optimizer, theirs, 5, 5);
  EXPECT_LT(max_difference(ours, theirs), 1e-6);
  // Had libtorch's Adam started from fresh moments instead, the first steps would be larger.
  auto fresh = parameters(2);
  auto fresh_optimizer = make_optimizer(fresh, config);
  run_steps(*fresh_optimizer, fresh, 0, 5);
  torch::optim::Adam restarted(fresh, torch::optim::AdamOptions(0.01).eps(1e-7));
  run_steps(restarted, fresh, 5, 5);
  EXPECT_GT(max_difference(fresh, theirs), 1e-4);
}

TEST(Optimizers, OtherDtypesTakeLibtorchsStep) {
  auto ours = parameters(3, torch::kDouble), theirs = parameters(3, torch::kDouble);
  auto our_optimizer = make_optimizer(ours, training({{"optimizer", "adam"}}));
  torch::optim::Adam their_optimizer(theirs, torch::optim::AdamOptions(1e-3).eps(1e-7));
  run_steps(*our_optimizer, ours, 0, 10);
  run_steps(their_optimizer, theirs, 0, 10);
  EXPECT_EQ(max_difference(ours, theirs), 0.0);  // the same code: bitwise
}

}  // namespace
}  // namespace cifar_exp
