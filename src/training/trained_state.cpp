// What training changes of a model (trained_state.h).
#include "cifar_exp/training/trained_state.h"

#include <stdexcept>

namespace cifar_exp {

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  return trainable;
}

namespace {

// The tensors trained_state() holds, as live references.
std::vector<torch::Tensor> trained_tensors(const torch::nn::Module& model) {
  std::vector<torch::Tensor> tensors = trainable_parameters(model);
  for (const auto& b : model.buffers()) tensors.push_back(b);
  return tensors;
}

}  // namespace

std::vector<torch::Tensor> trained_state(const torch::nn::Module& model) {
  std::vector<torch::Tensor> copies;
  for (const auto& t : trained_tensors(model)) copies.push_back(t.detach().clone());
  return copies;
}

void load_trained_state(torch::nn::Module& model, const std::vector<torch::Tensor>& state) {
  const std::vector<torch::Tensor> targets = trained_tensors(model);
  bool fits = targets.size() == state.size();
  for (size_t i = 0; fits && i < targets.size(); ++i) {
    fits = targets[i].sizes() == state[i].sizes();
  }
  if (!fits) throw std::invalid_argument("saved weights do not fit the model");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) targets[i].copy_(state[i]);
}

}  // namespace cifar_exp
