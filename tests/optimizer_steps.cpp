// optimizer_steps: applies the optimizer a config describes to given parameters and gradients,
// step by step, through cifar-exp's own make_optimizer and learning-rate schedule, for
// tests/optimizer_reference.py, which does the same with PyTorch's torch.optim. Reads JSON on
// stdin: {"training": {config keys}, "steps_per_epoch": B, "params": [[...], ...], "grads":
// [[[...], ...] per step]}; writes {"params": [[...], ...], "rates": [the rate of each step]}.
#include <iostream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/training/lr_schedule.h"
#include "cifar_exp/training/optimizers.h"

using nlohmann::json;

namespace {

torch::Tensor vector_tensor(const json& values) {
  return torch::tensor(values.get<std::vector<float>>(), torch::kFloat32);
}

}  // namespace

int main() {
  const json in = json::parse(std::cin);
  const auto config =
      cifar_exp::parse_config({{"name", "reference"}, {"training", in.at("training")}}, "stdin");
  std::vector<torch::Tensor> params;
  for (const auto& values : in.at("params")) {
    params.push_back(vector_tensor(values).requires_grad_(true));
  }
  const auto optimizer = cifar_exp::make_optimizer(params, config.training);
  const int64_t steps_per_epoch = in.value("steps_per_epoch", int64_t(1));
  std::vector<double> rates;
  int64_t t = 0;
  for (const auto& step : in.at("grads")) {
    cifar_exp::set_learning_rate(*optimizer,
                                 cifar_exp::scheduled_rate(config.training, t++, steps_per_epoch));
    rates.push_back(cifar_exp::learning_rate(*optimizer));
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = vector_tensor(step[i]);
    optimizer->step();
  }
  json out = json::array();
  for (const auto& p : params) {
    const auto values = p.detach().contiguous();
    out.push_back(
        std::vector<float>(values.data_ptr<float>(), values.data_ptr<float>() + values.numel()));
  }
  std::cout << json{{"params", out}, {"rates", rates}}.dump() << std::endl;
  return 0;
}
