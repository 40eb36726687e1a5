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

// Writes `module`'s parameters and buffers as Module::save lays them out, but as CPU tensors
// whatever device the module is on, so the file loads on a machine without a GPU. Used for
// model.pt and for the model inside checkpoint.pt.
void save_module_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive);

// model.pt: the module written with save_module_on_cpu to a temporary file renamed into place;
// OutputError naming `path` on failure. Loads back with torch::load(module, path).
void save_model_file(const torch::nn::Module& module, const std::string& path);

}  // namespace cifar_exp
