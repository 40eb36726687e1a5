// The setup every command that trains, times or runs a model starts from, built once from a
// resolved config: threads and device configured, the data on the device, the model built from
// the run's seed, the augmenter, and what training consumes (images, or a frozen backbone's
// features). `train`, `resume`, `bench`, `extract-features` and `preview-augmentation` differ
// only in what they do with it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cifar_exp/config/config.h"
#include "cifar_exp/data/augmentation.h"
#include "cifar_exp/models/models.h"

namespace cifar_exp {

// The config file read with the overrides applied and the data folder resolved (--data-dir,
// $CIFAR10_DIR, data.dir, data/cifar-10-batches-bin).
ExperimentConfig load_run_config(const std::string& path, const ConfigOverrides& overrides);

// What a command needs of the setup.
struct RunContextOptions {
  bool train_split = true, test_split = true;  // which splits to load (data.*_limit apply)
  // Training: hold out training.validation_split of the training data when training.validation
  // is "split", and leave the test split unread until after training unless it is "test"
  // (load_test_split() reads it then).
  bool validation = false;
  bool model = true;       // build the model
  bool augmenter = false;  // build the augmenter even when augmentation.enabled is false
  bool use_device = true;  // false: stay on the CPU without touching the configured device
  // Checked after the data and before the model (train): OutputError when not writable.
  std::optional<std::string> writable_output_dir;
  // bench: time on generated pixels when the data files are missing, and on a random backbone
  // when the weights file is (same cost either way).
  bool stand_ins_for_missing_files = false;
  int64_t stand_in_train_rows = 1024;
};

// One split on the training device.
struct SplitData {
  torch::Tensor images;  // uint8 N x 3 x 32 x 32
  torch::Tensor labels;  // int64 N
  // The same images on the host, kept (for the feature-cache key) only when the model has a
  // feature source and output.cache_dir is set; else undefined.
  torch::Tensor host_images{};
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// What training consumes: the whole model on images, or a frozen feature source's head on
// features computed once per split. With augmentation a frozen source still sees new training
// pixels every epoch, but the test split's features never change: they are computed once and
// each epoch's evaluation is a head pass (evaluation_model).
struct TrainingInputs {
  ClassifierImpl* model = nullptr;  // what fit() trains
  // What evaluates `validation` and `test` (nullptr: `model`).
  ClassifierImpl* evaluation_model = nullptr;
  // uint8 images or float features, on the device; `validation` is the test split's when
  // training.validation is "test", undefined when "none"; `test` stays undefined until
  // add_test_inputs() unless the test split is the validation split.
  torch::Tensor train, validation, test;
  double feature_seconds = 0;  // spent computing (or reading) the features
};

struct RunContext {
  ExperimentConfig config;
  torch::Device device{torch::kCPU};
  int64_t threads = 0;
  SplitData train, test;
  SplitData validation;  // training.validation "split": the held-out end of the training data
  std::vector<std::string> class_names;
  std::string data_kind = "real";  // real | generated (bench stand-in)
  std::string weights_note;        // set when bench stands a random backbone in
  std::shared_ptr<ClassifierImpl> model;
  ParameterCounts params;
  std::unique_ptr<Augmenter> augmenter;  // when augmentation.enabled (or options.augmenter)

  // True when training can skip the model's frozen feature source: it is frozen and nothing
  // (augmentation) changes its input from epoch to epoch.
  bool trains_on_features() const;
  // The module fit() trains (and a checkpoint holds): the feature head when
  // trains_on_features(), else the whole model.
  torch::nn::Module& trained_module();
  // The inputs for fit(): features through the cache (output.cache_dir) when
  // trains_on_features(); else the training images, and for a frozen source the test split's
  // features; else the images.
  TrainingInputs training_inputs(const std::shared_ptr<spdlog::logger>& logger);
  // The labels fit() validates against (test's, validation's or undefined, as the inputs).
  const torch::Tensor& validation_labels() const;
  // After training with training.validation "split" or "none": reads the test split (the
  // first time the run touches it) and sets inputs.test as training_inputs() would have.
  void add_test_inputs(TrainingInputs& inputs, const std::shared_ptr<spdlog::logger>& logger);
};

// Configures threads and the device, loads the data (copied to the device once), seeds torch
// with training.seed and builds the model, in that order, so that every command sees the same
// model for the same config. Every check comes before anything is written.
RunContext make_run_context(ExperimentConfig config, const RunContextOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger);

// "1.13.1", from the libtorch headers this binary was built with.
std::string torch_version();

// Tunes glibc's allocator for training's pattern of large blocks freed and reallocated every
// step (see BENCHMARKS.md). Called once at start by main.
void configure_allocator();

// Threads for intra-op parallelism: `requested`, or all cores when 0.
int64_t configure_threads(int64_t requested);

}  // namespace cifar_exp
