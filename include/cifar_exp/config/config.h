// The experiment config: the structs one JSON file fills to describe a run, and reading and
// writing it. Parsing validates every key and reports problems by JSON path
// ("training.batch_size: must be a positive integer, got -3"); in config.cpp one field table per
// section gives each key's name, member and rule for both parse_config and to_json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/config/choices.h"
// The parts of reading a config below the schema, which its readers use with it: finding the file
// (load_config), JSON text, key paths and the command-line overrides.
#include "cifar_exp/config/config_files.h"
#include "cifar_exp/config/json_reading.h"
#include "cifar_exp/config/key_path.h"
#include "cifar_exp/config/overrides.h"

namespace cifar_exp {

struct DataConfig {
  std::string dir;  // empty = not set; see resolve_data_dir() for the search order
  std::optional<int64_t> train_limit;  // use only the first N training records
  std::optional<int64_t> test_limit;   // use only the first N test records
};

struct ModelConfig {
  ModelType type = ModelType::kSmallCnn;
  Kernels kernels = Kernels::kAuto;
  // vgg16_transfer only:
  std::string weights;  // path, or "random"; empty = not given
  WeightsFormat weights_format = WeightsFormat::kKerasH5;
  Preprocess preprocess = Preprocess::kAuto;
  int64_t input_size = 32;
  int64_t hidden_units = 256;
  double dropout = 0.5;
  int64_t trainable_blocks = 0;
  Convolution convolution = Convolution::kAuto;
};

// The preprocessing "auto" stands for: what the weights were trained with (torchvision's
// ImageNet statistics, else Keras' caffe mode).
Preprocess resolve_preprocess(const ModelConfig& config);

struct RandomCropConfig {
  int64_t padding = 0;
  int64_t size = 32;
};

// Keras ImageDataGenerator keys, same meanings and defaults.
struct AugmentationConfig {
  bool enabled = false;
  double rotation_range = 0.0;      // degrees
  double width_shift_range = 0.0;   // fraction of width when < 1, pixels when >= 1
  double height_shift_range = 0.0;  // fraction of height when < 1, pixels when >= 1
  bool horizontal_flip = false;
  bool vertical_flip = false;
  double zoom_lower = 1.0;  // zoom_range as [lower, upper]; a number z means [1-z, 1+z]
  double zoom_upper = 1.0;
  double shear_range = 0.0;  // degrees
  FillMode fill_mode = FillMode::kNearest;
  double cval = 0.0;
  std::optional<RandomCropConfig> random_crop;
  int64_t cutout = 0;  // side of the square cut out, 0 = off

  bool any_geometric() const;
};

// training.early_stopping: Keras' EarlyStopping, same names, meanings and defaults
// (early_stopping.h). Epochs before start_from_epoch are not watched; with a baseline, only an
// epoch that improves on it as well as on the best restarts the count of epochs without
// improvement.
struct EarlyStoppingConfig {
  Monitor monitor = Monitor::kValLoss;
  MonitorMode mode = MonitorMode::kAuto;
  int64_t patience = 0;
  double min_delta = 0.0;
  std::optional<double> baseline;  // Keras' baseline=None: none
  bool restore_best_weights = false;
  int64_t start_from_epoch = 0;
};

struct TrainingConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 1000;
  Optimizer optimizer = Optimizer::kAdam;
  // What the per-epoch "val" metrics, and the best epoch, are measured on: "test" (the test
  // split, as the notebook's Keras validation_data did), "split" (the last validation_split of
  // the training data, held out before shuffling, as Keras' validation_split; the test split is
  // then read once, after training) or "none" (no per-epoch validation; test once at the end).
  Validation validation = Validation::kTest;
  double validation_split = 0.1;
  double learning_rate = 1e-3;
  // The optimizer's settings (optimizers.h; each applies only to the optimizers named).
  double beta1 = 0.9;         // adam, adamw
  double beta2 = 0.999;       // adam, adamw
  double epsilon = 1e-7;      // adam, adamw, rmsprop: Keras' default, not PyTorch's 1e-8
  double weight_decay = 0.0;  // adamw (decoupled; 0.01 when not given), sgd (L2)
  double momentum = 0.0;      // sgd, rmsprop
  bool nesterov = false;      // sgd
  double rho = 0.9;           // rmsprop: Keras' default, PyTorch's alpha
  // The learning-rate schedule (lr_schedule.h; each key applies only to the schedules named).
  LrSchedule lr_schedule = LrSchedule::kConstant;
  int64_t lr_warmup_epochs = 0;  // cosine: linear warm-up first
  double lr_min = 0.0;           // cosine: the final rate; reduce_on_plateau: the floor
  int64_t lr_step_epochs = 10;   // step: decay every N epochs
  double lr_gamma = 0.1;         // step: by this factor
  double lr_pct_start = 0.3;     // onecycle: the share of steps spent rising
  // reduce_on_plateau (Keras' ReduceLROnPlateau): the metric, the factor, epochs without
  // improvement before a cut, epochs after a cut before counting again, the least improvement.
  Monitor lr_monitor = Monitor::kValLoss;
  double lr_factor = 0.1;
  int64_t lr_patience = 10;
  int64_t lr_cooldown = 0;
  double lr_min_delta = 1e-4;
  // Off when absent. Its monitor also decides which epoch is the best (model.best.pt); without
  // it, the best epoch is the one with the highest val_accuracy.
  std::optional<EarlyStoppingConfig> early_stopping;
  uint64_t seed = 42;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int64_t threads = 0;          // 0 = all cores
  Precision precision = Precision::kFp32;
  // CUDA only: let cuBLAS/cuDNN round fp32 matrix products and convolutions to TF32 (faster on
  // Ampere and later, ~1e-3 relative error). Off by default so that a GPU run computes what a
  // CPU run computes; recorded in summary.json either way.
  bool tf32 = false;
};

// Whether `spec` is a training.device value: auto, cpu, cuda or cuda:N.
bool is_device_spec(const std::string& spec);

struct OutputConfig {
  std::string dir = "runs";
  bool save_model = true;
  // Backbone features and data checksums: "auto" is <dir>/.cache, beside the runs that use it
  // (resolve_cache_dir); "" disables the disk caches.
  std::string cache_dir = "auto";
  // TensorBoard event files in <run>/tensorboard (tensorboard.h); the running loss and accuracy
  // every N training batches as well as every epoch (0: every epoch only).
  bool tensorboard = true;
  int64_t tensorboard_batch_interval = 50;
};

// output.cache_dir "auto" made <output.dir>/.cache; other values kept.
void resolve_cache_dir(OutputConfig& output);

struct ExperimentConfig {
  std::string name;
  std::string description;
  std::optional<double> reference_accuracy;  // the notebook's reported figure, for tables
  DataConfig data;
  ModelConfig model;
  AugmentationConfig augmentation;
  TrainingConfig training;
  OutputConfig output;
};

// "pretrained", "random" (vgg16_transfer with "weights": "random") or "none".
std::string transfer_kind(const ModelConfig& model);

// The keys through which validation metrics choose the model a run reports or when it ends:
// early stopping on a val_ monitor, restore_best_weights, reduce_on_plateau on a val_ monitor
// (in that order; {} without validation). With training.validation "test" the test split then
// chose what it measures.
std::vector<std::string> selections_on_validation(const TrainingConfig& training);
// training.validation's name ("test" or "split") when anything selects on it, else nullopt:
// summary.json's selected_on.
std::optional<std::string> selected_on(const TrainingConfig& training);

// Parses and validates a config document. `source` names it in error messages (usually the
// file path). `origins` maps JSON paths to the command-line flag that set them; an error at a
// path, inside it or on the way to it then names that flag instead of the source.
// A key that does not apply to the config (a VGG16 key on a small CNN, an augmentation key with
// augmentation off) is refused, or with `drop_inapplicable` left out (run folders' config.json
// from earlier versions, which wrote every key).
ExperimentConfig parse_config(const nlohmann::json& doc, const std::string& source,
                              const std::map<std::string, std::string>& origins = {},
                              bool drop_inapplicable = false);

// Reads a JSON file and parses it; errors name the file (and line/column for syntax errors).
// `name` is a path, or a bare config name found by find_config().
ExperimentConfig load_config(const std::string& name, const ConfigOverrides& overrides = {});
// A run folder's config.json, as written by this or an earlier cifar-exp (parse_config's
// drop_inapplicable), with the overrides applied.
ExperimentConfig load_run_folder_config(const std::string& path, const ConfigOverrides& overrides);

// The fully resolved config, every key present, as written to the run folder's config.json.
nlohmann::json to_json(const ExperimentConfig& config);

}  // namespace cifar_exp
