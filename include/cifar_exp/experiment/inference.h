// Using a finished run, as `caffe test` does: load its trained model on any device, evaluate it
// on a split (`evaluate`), classify a user's images (`predict`), and export its weights in a
// form plain PyTorch loads (weights.pt).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/models/models.h"

namespace cifar_exp {

// A run folder's model, rebuilt from its config.json and loaded from its model.pt or
// model.best.pt (checksum verified; tensors mapped to `device`, whatever device trained it).
struct LoadedRun {
  ExperimentConfig config;
  std::shared_ptr<ClassifierImpl> model;
  torch::Device device = torch::kCPU;
  std::vector<std::string> class_names;  // from summary.json, else CIFAR-10's
  std::string model_file;                // the file the weights came from
};
// ConfigError when `run_dir` is not a run folder; OutputError when the model file is missing
// or corrupted. Sets torch's thread count: `threads`, else the run's training.threads.
LoadedRun load_run(const std::string& run_dir, const std::optional<std::string>& device,
                   std::optional<int64_t> threads = std::nullopt,
                   SavedModel which = SavedModel::kLast);

struct EvaluateOptions {
  std::string run_dir;
  std::optional<std::string> data_dir;   // default: the run's
  std::optional<std::string> device;     // default: the run's setting
  std::string split = "test";            // test | train
  std::optional<int64_t> limit;          // only the first N records
  std::optional<int64_t> threads;        // default: the run's training.threads
  SavedModel which = SavedModel::kLast;  // model.pt or model.best.pt
};
// Evaluates the run's model on the split, writes evaluation-<UTC>.json into the run folder and
// returns it (accuracy, loss, per-class accuracy, confusion matrix, what was evaluated).
nlohmann::json evaluate_run(const EvaluateOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger);
// The evaluation as an aligned text table (accuracy, loss, then per class).
std::string format_evaluation(const nlohmann::json& evaluation);

struct PredictOptions {
  std::string run_dir;
  std::vector<std::string> images;
  int64_t top = 3;
  std::string format = "table";  // table | json
  std::optional<std::string> device;
  std::optional<int64_t> threads;  // default: the run's training.threads
  SavedModel which = SavedModel::kLast;
};
// The top classes and their probabilities for each image (PNG or JPEG, resized to 32 x 32), as
// a table or JSON (which also carries the logits).
std::string predict_images(const PredictOptions& options);

// weights.pt: the model's parameters and buffers as a plain {name: tensor} dict, written with
// torch::pickle_save (CPU, contiguous), so that Python's torch.load(path, weights_only=True)
// reads it and load_state_dict() of the equivalent PyTorch module
// (docs/install-evaluate-predict.md) takes it.
void save_portable_weights(const torch::nn::Module& model, const std::string& path);

}  // namespace cifar_exp
