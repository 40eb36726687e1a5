// Builds the RunContext every command starts from (run_context.h).
#include "cifar_exp/experiment/run_context.h"

#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <torch/version.h>

#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/models/feature_cache.h"
#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/records/run_folder.h"

namespace fs = std::filesystem;

namespace cifar_exp {

std::string torch_version() { return TORCH_VERSION; }

void configure_allocator() {
  // glibc returns freed blocks above 128 KiB to the kernel at once (mmap/munmap, heap trims), so
  // every training step maps, faults in and unmaps its activations again: measured 1.6x slower
  // forward/backward and 2x slower evaluation for the small CNN. Keep blocks up to 256 MiB in
  // the heap and trim only beyond that; libtorch reuses the memory step after step.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int64_t configure_threads(int64_t requested) {
  const int64_t threads =
      requested > 0 ? requested : std::max<int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(int(threads));
  return threads;
}

ExperimentConfig load_run_config(const std::string& path, const ConfigOverrides& overrides) {
  ExperimentConfig config = load_config(path, overrides);
  config.data.dir = resolve_data_dir(overrides.data_dir, config.data.dir);
  resolve_cache_dir(config.output);
  return config;
}

namespace {

SplitData read_split(const DataConfig& data, bool train, std::vector<std::string>* class_names) {
  Cifar10 split(data.dir, train ? Cifar10::Mode::kTrain : Cifar10::Mode::kTest,
                train ? data.train_limit : data.test_limit);
  if (class_names) *class_names = split.class_names();
  return {split.images(), split.targets()};
}

// Random pixels and labels in place of the real splits (bench times the same work on them).
void generate_stand_in_data(RunContext& context, int64_t rows) {
  const TrainingConfig& t = context.config.training;
  context.train = {torch::randint(0, 256, {rows, kChannels, kImageSize, kImageSize}, torch::kUInt8),
                   torch::randint(0, kNumClasses, {rows}, torch::kInt64)};
  const int64_t test_rows = context.config.data.test_limit.value_or(t.eval_batch_size);
  context.test = {
      torch::randint(0, 256, {test_rows, kChannels, kImageSize, kImageSize}, torch::kUInt8),
      torch::randint(0, kNumClasses, {test_rows}, torch::kInt64)};
  context.data_kind = "generated";
}

// training.validation "split": the last validation_split of the training data becomes the
// validation split, as Keras' validation_split takes it (before shuffling, after data.train_limit).
void hold_out_validation(RunContext& context) {
  const TrainingConfig& t = context.config.training;
  const int64_t n = context.train.size();
  const int64_t split_at = int64_t(double(n) * (1.0 - t.validation_split));
  if (split_at < 1 || split_at >= n) {
    throw ConfigError("training.validation_split: " + fixed(t.validation_split, 4) + " of " +
                      std::to_string(n) + " training images leaves " +
                      (split_at < 1 ? "no training image" : "no validation image"));
  }
  SplitData& train = context.train;
  context.validation = {train.images.narrow(0, split_at, n - split_at).clone(),
                        train.labels.narrow(0, split_at, n - split_at).clone()};
  train = {train.images.narrow(0, 0, split_at), train.labels.narrow(0, 0, split_at)};
}

void load_data(RunContext& context, const RunContextOptions& options,
               const std::shared_ptr<spdlog::logger>& logger) {
  const DataConfig& data = context.config.data;
  const Validation validation = context.config.training.validation;
  // Validated on anything but the test split, training leaves it unread until it has finished.
  const bool test_split =
      options.test_split && !(options.validation && validation != Validation::kTest);
  try {
    if (options.train_split && options.test_split) check_data_files(data.dir);
    if (options.train_split) context.train = read_split(data, true, &context.class_names);
    if (test_split) context.test = read_split(data, false, &context.class_names);
    if (options.validation && validation == Validation::kSplit) hold_out_validation(context);
  } catch (const DataError& e) {
    if (!options.stand_ins_for_missing_files) throw;
    logger->warn("{}; timing on generated data", first_line(e.what()));
    generate_stand_in_data(context, options.stand_in_train_rows);
  }
}

void build_context_model(RunContext& context, const RunContextOptions& options,
                         const std::shared_ptr<spdlog::logger>& logger) {
  ModelConfig model_config = context.config.model;
  if (options.stand_ins_for_missing_files && model_config.type == ModelType::kVgg16Transfer &&
      model_config.weights != "random" && !fs::exists(model_config.weights)) {
    context.weights_note = "random (" + model_config.weights + " not found; same cost)";
    logger->warn("{} not found: timing with random backbone weights (same cost)",
                 model_config.weights);
    model_config.weights = "random";
  }
  context.model = build_model(model_config);
  context.model->to(context.device);
  context.params = count_parameters(*context.model);
}

}  // namespace

RunContext make_run_context(ExperimentConfig config, const RunContextOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger) {
  RunContext context;
  context.config = std::move(config);
  resolve_cache_dir(context.config.output);
  const TrainingConfig& training = context.config.training;
  context.threads = configure_threads(training.threads);
  if (options.use_device) {
    context.device = resolve_device(training.device);
    // Fixed input shapes: let cuDNN time its algorithms once and keep the fastest.
    configure_device(context.device, training, /*autotune=*/true);
  }
  // Seeded before anything random: generated stand-in data, then the model's initialisation.
  torch::manual_seed(training.seed);
  load_data(context, options, logger);
  if (options.writable_output_dir) check_output_dir(*options.writable_output_dir);
  if (options.model) build_context_model(context, options, logger);
  // The feature-cache key hashes the image bytes: keep them on the host where training_inputs()
  // will compute it, so that no split is copied back from the GPU for it (on the CPU, the same
  // tensor).
  const bool keys_features =
      context.model && context.model->feature_source() && !context.config.output.cache_dir.empty();
  for (SplitData* split : {&context.train, &context.validation, &context.test}) {
    if (!split->images.defined()) continue;
    if (keys_features) split->host_images = split->images;
    if (!options.use_device) continue;
    // One plain copy per run, so batches never cross the bus. Not through pinned memory: the
    // host caching allocator would keep the staging block (~180 MB) for the life of the process.
    split->images = split->images.to(context.device);
    split->labels = split->labels.to(context.device);
  }
  if (context.config.augmentation.enabled || options.augmenter) {
    context.augmenter =
        std::make_unique<Augmenter>(context.config.augmentation, uint64_t(training.seed));
  }
  return context;
}

bool RunContext::trains_on_features() const {
  FeatureSource* source = model ? model->feature_source() : nullptr;
  return source && source->features_frozen() && !config.augmentation.enabled;
}

torch::nn::Module& RunContext::trained_module() {
  if (trains_on_features()) return model->feature_source()->feature_head();
  return *model;
}

TrainingInputs RunContext::training_inputs(const std::shared_ptr<spdlog::logger>& logger) {
  FeatureSource* source = model ? model->feature_source() : nullptr;
  const Validation mode = config.training.validation;
  const SplitData* validated = mode == Validation::kSplit  ? &validation
                               : mode == Validation::kTest ? &test
                                                           : nullptr;
  TrainingInputs inputs;
  inputs.model = model.get();
  inputs.train = train.images;
  if (!source || !source->features_frozen()) {
    if (validated) inputs.validation = validated->images;
    if (mode == Validation::kTest) inputs.test = test.images;
    return inputs;
  }
  const auto start = std::chrono::steady_clock::now();
  // The backbone computes features in the run's precision, as it does for augmented batches.
  AutocastScope autocast(device, config.training.precision);
  const std::string& cache_dir = config.output.cache_dir;
  const int64_t batch = config.training.eval_batch_size;
  if (trains_on_features()) {
    inputs.model = &source->feature_head();
    inputs.train = cached_features(*model, train.images, cache_dir, batch, logger, "train", nullptr,
                                   train.host_images);
  } else {
    inputs.evaluation_model = &source->feature_head();
  }
  if (validated) {
    inputs.validation = cached_features(*model, validated->images, cache_dir, batch, logger,
                                        mode == Validation::kTest ? "test" : "validation", nullptr,
                                        validated->host_images);
  }
  if (mode == Validation::kTest) inputs.test = inputs.validation;
  inputs.feature_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (trains_on_features()) {
    logger->info("Backbone features ready in {:.1f} s; training the head on them",
                 inputs.feature_seconds);
  } else if (validated) {
    logger->info("Validation features ready in {:.1f} s; each evaluation is a head pass",
                 inputs.feature_seconds);
  }
  return inputs;
}

const torch::Tensor& RunContext::validation_labels() const {
  static const torch::Tensor kNone;
  const Validation mode = config.training.validation;
  return mode == Validation::kSplit  ? validation.labels
         : mode == Validation::kTest ? test.labels
                                     : kNone;
}

void RunContext::add_test_inputs(TrainingInputs& inputs,
                                 const std::shared_ptr<spdlog::logger>& logger) {
  if (inputs.test.defined()) return;
  logger->info("Reading the test split for the final evaluation (training.validation \"{}\")",
               to_string(config.training.validation));
  test = read_split(config.data, false, nullptr);
  FeatureSource* source = model ? model->feature_source() : nullptr;
  const bool frozen = source && source->features_frozen();
  if (frozen && !config.output.cache_dir.empty()) test.host_images = test.images;
  test.images = test.images.to(device);
  test.labels = test.labels.to(device);
  if (!frozen) {
    inputs.test = test.images;
    return;
  }
  AutocastScope autocast(device, config.training.precision);
  inputs.test =
      cached_features(*model, test.images, config.output.cache_dir, config.training.eval_batch_size,
                      logger, "test", nullptr, test.host_images);
}

}  // namespace cifar_exp
