// checkpoint.pt: what a run needs to continue exactly where it stopped — model parameters,
// optimizer state (Adam's moments and step counts), the epoch and batch reached, that epoch's
// shuffle and running totals, the metrics so far, the random generators' states and the best
// epoch's weights when the run keeps them.
#pragma once

#include <string>

#include <torch/torch.h>

#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// Writes the checkpoint atomically with its checksum (`path`.crc32), keeping the one it replaces
// as checkpoint.prev.pt; OutputError naming the file and the system's reason on failure, with
// the earlier files intact.
void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const torch::optim::Optimizer& optimizer, const TrainingState& state);

// Loads parameters into `model` and state into `optimizer` (tensors land on the model's device)
// and returns the rest. OutputError naming the file when it is missing, unreadable, fails its
// checksum ("checkpoint is corrupted: ...") or does not fit the model.
TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                              torch::optim::Optimizer& optimizer);

// The training state alone, without a model (position, metrics so far); same errors.
TrainingState peek_checkpoint(const std::string& path);

// OutputError unless the checkpoint's model state loads into `model` (which it then holds):
// `resume` checks this before it touches the run folder, so that a checkpoint of another
// model is refused without a trace.
void check_checkpoint_fits(const std::string& path, torch::nn::Module& model);

// The error for a model file or checkpoint without its `.crc32` file: refused, since nothing
// else would notice a damaged byte (docs/errors-and-exit-codes.md).
std::string missing_checksum(const std::string& path);

// Writes `module`'s parameters and buffers as Module::save lays them out, but as CPU tensors
// whatever device the module is on, so the file loads on a machine without a GPU. Used for
// model.pt and for the model inside checkpoint.pt.
void save_module_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive);

// model.pt: the module written with save_module_on_cpu, atomically, with its checksum beside it
// (`path`.crc32); OutputError naming `path` on failure. Loads back with torch::load(module, path).
void save_model_file(const torch::nn::Module& module, const std::string& path);

// An archive serialised in memory (so that a full disk is reported by the file writer, not
// thrown from inside libtorch's); OutputError naming `path` if serialisation fails.
std::string archive_bytes(torch::serialize::OutputArchive& archive, const std::string& path);

}  // namespace cifar_exp
