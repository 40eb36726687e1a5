// checkpoint.pt: what a run needs to continue exactly where it stopped — model parameters,
// optimizer state (Adam's moments and step counts), the epoch and batch reached, that epoch's
// shuffle and running totals, the metrics so far and the random generators' states.
#pragma once

#include <string>

#include <torch/torch.h>

#include "cifar_exp/training.h"

namespace cifar_exp {

// Writes the checkpoint to a temporary file and renames it over `path`; OutputError on failure.
void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const torch::optim::Optimizer& optimizer, const TrainingState& state);

// Loads parameters into `model` and state into `optimizer` (tensors land on the model's device)
// and returns the rest. OutputError naming the file when it is missing, unreadable or does not
// fit the model.
TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                              torch::optim::Optimizer& optimizer);

// The training state alone, without a model (position, metrics so far); same errors.
TrainingState peek_checkpoint(const std::string& path);

}  // namespace cifar_exp
