// What training changes of a model: the parameters the optimizer updates and the buffers, as
// fit() trains them, early stopping keeps the best epoch's and `train` writes model.best.pt.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

// The parameters the optimizer updates (a frozen backbone's are left out).
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model);

// What training changes of `model`: its trainable parameters, then its buffers, detached copies
// in named_parameters()/named_buffers() order. load_trained_state() copies them back into a
// model of the same architecture (std::invalid_argument when they do not fit).
std::vector<torch::Tensor> trained_state(const torch::nn::Module& model);
void load_trained_state(torch::nn::Module& model, const std::vector<torch::Tensor>& state);

}  // namespace cifar_exp
