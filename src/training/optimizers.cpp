// Optimizers from the config (optimizers.h).
#include "cifar_exp/training/optimizers.h"

namespace cifar_exp {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters,
                                                        const TrainingConfig& c) {
  using namespace torch::optim;
  switch (c.optimizer) {
    case Optimizer::kAdam:
      return std::make_unique<Adam>(
          parameters, AdamOptions(c.learning_rate).betas({c.beta1, c.beta2}).eps(c.epsilon));
    case Optimizer::kAdamW:
      return std::make_unique<AdamW>(parameters, AdamWOptions(c.learning_rate)
                                                     .betas({c.beta1, c.beta2})
                                                     .eps(c.epsilon)
                                                     .weight_decay(c.weight_decay));
    case Optimizer::kSgd:
      return std::make_unique<SGD>(parameters, SGDOptions(c.learning_rate)
                                                   .momentum(c.momentum)
                                                   .nesterov(c.nesterov)
                                                   .weight_decay(c.weight_decay));
    case Optimizer::kRmsprop:
      return std::make_unique<RMSprop>(
          parameters,
          RMSpropOptions(c.learning_rate).alpha(c.rho).eps(c.epsilon).momentum(c.momentum));
  }
  throw std::logic_error("make_optimizer: unknown optimizer");
}

double learning_rate(const torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().at(0).options().get_lr();
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double rate) {
  for (auto& group : optimizer.param_groups()) {
    group.options().set_lr(rate);
  }
}

}  // namespace cifar_exp
