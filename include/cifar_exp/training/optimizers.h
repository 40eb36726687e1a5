// The optimizer a run trains with (training.optimizer), built from its config through
// libtorch's own implementations, so that each follows PyTorch's update rule step for step:
//   adam     Adam; Keras' defaults (beta1 0.9, beta2 0.999, epsilon 1e-7), as the notebook.
//   adamw    AdamW: Adam with decoupled weight decay (PyTorch's AdamW; weight_decay 0.01 when
//            not given).
//            Both, where every parameter is a float32 CPU tensor, do libtorch's arithmetic in one
//            pass of ours per parameter (its step makes about eight operator calls per parameter:
//            a third of the frozen VGG16 head's step); its state, so checkpoints are unchanged.
//   sgd      SGD with optional momentum, Nesterov momentum and L2 weight decay (PyTorch's rule:
//            the velocity accumulates gradients, the rate multiplies it; Keras' defaults: no
//            momentum).
//   rmsprop  RMSprop with Keras' defaults (rho 0.9, epsilon 1e-7, no momentum, not centred);
//            epsilon is added outside the square root, as PyTorch does.
// The checkpoint holds the optimizer's state (checkpoint.h); its learning rate is what schedules
// change (learning_rate / set_learning_rate).
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

// The optimizer `config` describes, updating `parameters` (trainable_parameters(model)).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters,
                                                        const TrainingConfig& config);

// The learning rate of the optimizer's (first) parameter group, and setting it in every group.
double learning_rate(const torch::optim::Optimizer& optimizer);
void set_learning_rate(torch::optim::Optimizer& optimizer, double rate);

}  // namespace cifar_exp
