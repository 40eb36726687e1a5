// The commands that run a config: train, resume, extract-features, preview-augmentation
// (experiment.h). Each builds a RunContext and does its one job with it.
#include "cifar_exp/experiment/experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include "cifar_exp/config/run_name.h"
#include "cifar_exp/data/augmentation.h"
#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/experiment/inference.h"
#include "cifar_exp/experiment/run_context.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/images.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/io/painting.h"
#include "cifar_exp/io/process.h"
#include "cifar_exp/models/feature_cache.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/records/comparison.h"
#include "cifar_exp/records/provenance.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/records/run_identity.h"
#include "cifar_exp/training/callbacks.h"
#include "cifar_exp/training/checkpoint.h"
#include "cifar_exp/training/early_stopping.h"
#include "cifar_exp/training/fit.h"
#include "cifar_exp/training/tensorboard.h"
#include "cifar_exp/training/trained_state.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

void log_run_header(const RunContext& run, const std::string& run_dir,
                    const std::shared_ptr<spdlog::logger>& logger) {
  const ExperimentConfig& config = run.config;
  logger->info("Run {} -> {}", config.name, run_dir);
  const Validation validation = config.training.validation;
  if (validation == Validation::kTest) {
    logger->info("Data {}: {} training and {} test images (validation on the test split)",
                 config.data.dir, run.train.size(), run.test.size());
  } else if (validation == Validation::kSplit) {
    logger->info(
        "Data {}: {} training and {} validation images (the last {} of the training data); the "
        "test split is read once, after training",
        config.data.dir, run.train.size(), run.validation.size(),
        percent(config.training.validation_split));
  } else {
    logger->info(
        "Data {}: {} training images, no validation; the test split is read once, "
        "after training",
        config.data.dir, run.train.size());
  }
  logger->info("Model {}: {} trainable and {} frozen parameters", run.model->kind(),
               run.params.trainable, run.params.frozen);
  logger->info("Device {} ({}), {} threads, precision {}{}, seed {}, libtorch {}", run.device.str(),
               device_name(run.device), run.threads, to_string(config.training.precision),
               run.device.is_cuda() ? (config.training.tf32 ? " with TF32" : " without TF32") : "",
               config.training.seed, torch_version());
  if (config.training.precision == Precision::kBf16 && run.device.is_cpu() &&
      !cpu_has_native_bf16()) {
    logger->warn(
        "This CPU has no bfloat16 instructions (avx512_bf16/amx_bf16): bf16 is emulated "
        "and likely slower than fp32");
  }
  const std::string transfer = transfer_kind(config.model);
  if (transfer == "random") {
    logger->warn(
        "Backbone weights are random (\"weights\": \"random\"): this is NOT transfer "
        "learning");
  } else if (transfer == "pretrained") {
    logger->info("Backbone weights {} ({}), preprocessing {}, input {}x{}", config.model.weights,
                 to_string(config.model.weights_format),
                 to_string(resolve_preprocess(config.model)), config.model.input_size,
                 config.model.input_size);
  }
  if (const auto* cnn = dynamic_cast<const SmallCnnImpl*>(run.model.get())) {
    const auto kernels =
        cnn->convolution_kernels(run.device, config.training.precision == Precision::kFp32);
    logger->info("Convolutions (model.kernels {}): conv1 {}, conv2 {}, conv3 {}",
                 to_string(config.model.kernels), kernels[0], kernels[1], kernels[2]);
  }
  // Which convolutions a frozen backbone runs on the CPU (model.convolution: convolution_path.h),
  // and why not a faster one under auto.
  const BackboneConvolution convolution =
      backbone_convolution(*run.model, run.device, config.training.precision);
  if (convolution.path != ConvolutionPath::kDirect ||
      (transfer != "none" && config.model.trainable_blocks == 0 && run.device.is_cpu() &&
       config.model.convolution == Convolution::kAuto)) {
    logger->info("Backbone convolutions: {}", describe(convolution, DescriptionFor::kRunLog));
  }
}

// What `resume` found in the run folder, read once.
struct Resumption {
  std::string checkpoint;             // its path
  TrainingState state;                // position and epochs so far (model and optimizer: in fit)
  std::optional<RunSummary> earlier;  // summary.json of the interrupted session
};

// summary.json's settings and identity, the same for every state of the run; `status` and the
// results are added as the run goes (running -> completed | interrupted | failed).
RunSummary summary_header(const RunContext& run, const Resumption* resumption) {
  const ExperimentConfig& config = run.config;
  const RunSummary* earlier = resumption && resumption->earlier ? &*resumption->earlier : nullptr;
  RunSummary s;
  s.name = config.name;
  s.model = run.model->kind();
  s.augmentation = config.augmentation.enabled;
  s.transfer = transfer_kind(config.model);
  if (config.model.type == ModelType::kVgg16Transfer) s.weights = config.model.weights;
  s.epochs = config.training.epochs;
  s.batch_size = config.training.batch_size;
  s.precision = to_string(config.training.precision);
  s.seed = config.training.seed;
  s.trainable_params = run.params.trainable;
  s.frozen_params = run.params.frozen;
  s.train_images = run.train.size();
  s.test_images = run.test.size();  // 0 until the end when the test split is read after training
  s.validation = to_string(config.training.validation);
  s.validation_images = config.training.validation == Validation::kSplit  ? run.validation.size()
                        : config.training.validation == Validation::kTest ? run.test.size()
                                                                          : 0;
  s.device = run.device.str();
  s.device_name = device_name(run.device);
  s.tf32 = run.device.is_cuda() && config.training.tf32;
  s.threads = run.threads;
  s.torch_version = torch_version();
  s.cifar_exp_version = CIFAR_EXP_VERSION;
  s.data_dir = config.data.dir;
  s.started_at = earlier && !earlier->started_at.empty() ? earlier->started_at : iso_utc_now();
  s.updated_at = iso_utc_now();
  s.resumed = (earlier ? earlier->resumed : 0) + (resumption ? 1 : 0);
  s.process = ProcessIdentity::current();
  s.reference_accuracy = config.reference_accuracy;
  s.class_names = run.class_names;
  s.provenance = provenance(config.data.dir, config.output.cache_dir, run.device);
  // The convolution path this run's model takes (model.convolution as resolved for this CPU).
  s.provenance["convolution"] =
      run.device.is_cuda()
          ? "cuDNN"
          : describe(backbone_convolution(*run.model, run.device, config.training.precision));
  s.fingerprint = RunIdentity::of(config, s.provenance.value("data_files", nlohmann::json(nullptr)))
                      .fingerprint;
  s.selected_on = selected_on(config.training);
  return s;
}

// Once per session: the test split chose what it then reports (selected_on "test").
void warn_if_selected_on_test(const TrainingConfig& training,
                              const std::shared_ptr<spdlog::logger>& logger) {
  if (training.validation != Validation::kTest) return;
  const auto keys = selections_on_validation(training);
  if (keys.empty()) return;
  std::string list;
  for (const auto& key : keys) list += (list.empty() ? "" : ", ") + key;
  logger->warn(
      "The test split selects the model: training.validation is \"test\" and {} choose(s) on "
      "it, so the reported test accuracy is not an unbiased estimate (summary.json: selected_on "
      "\"test\"). Set training.validation to \"split\" to select on held-out training data.",
      list);
}

// The test split's evaluation of the model training left (`final_test`), the best epoch (fit's,
// else the last) and why training ended.
void add_results(RunSummary& summary, const History& history, const EvaluationResult& final_test,
                 const TrainingConfig& training) {
  summary.epochs_completed = int64_t(history.epochs.size());
  summary.train_seconds = history.train_seconds;
  summary.stop_reason = history.interrupted     ? "interrupted"
                        : history.stopped_early ? "early_stopping"
                                                : "all_epochs";
  summary.restored_best_weights = history.restored_best_weights;
  // Validated on other data and stopped early: the test split has not been evaluated.
  if (history.epochs.empty() || !final_test.confusion.defined()) return;
  SummaryResults r;
  const auto criterion = best_criterion(training);
  const EpochMetrics& best = history.best_epoch > 0
                                 ? history.epochs.at(size_t(history.best_epoch - 1))
                                 : history.epochs.back();
  r.best_epoch = best.epoch;
  if (criterion && history.best_epoch > 0) {
    r.best_monitor = to_string(criterion->monitor);
    r.best_value = history.best_value;
  }
  r.test_accuracy = final_test.accuracy;
  r.test_error = 1.0 - final_test.accuracy;
  r.test_loss = final_test.loss;
  r.best_val_accuracy = best.val_accuracy;
  r.images_per_second = history.epochs.back().images_per_second;
  r.per_class_accuracy = final_test.per_class_accuracy();
  r.confusion_matrix = final_test.confusion_rows();
  summary.results = r;
}

// Records a failure in summary.json when the disk still allows it; the error itself is what the
// user sees, so a second failure here is not reported over it.
void record_failure(const std::string& summary_path, RunSummary& summary,
                    const std::string& reason) {
  summary.status = "failed";
  summary.error = first_line(reason);
  summary.finished_at = iso_utc_now();
  try {
    write_summary(summary_path, summary);
  } catch (const Error&) {
  }
}

// The final summary.json: completed, or interrupted (then InterruptedError, exit 130).
RunResult finish_run(const std::string& run_dir, RunSummary& summary, const History& history,
                     const EvaluationResult& final_test,
                     const std::shared_ptr<spdlog::logger>& logger) {
  const std::string summary_path = RunFolder(run_dir).summary();
  if (history.interrupted) {
    summary.status = "interrupted";
    summary.stopped_at = {history.stopped_at_epoch, history.stopped_at_batch};
    write_summary(summary_path, summary);
    throw InterruptedError("interrupted at epoch " + std::to_string(history.stopped_at_epoch) +
                           ", batch " + std::to_string(history.stopped_at_batch) + "; " +
                           std::to_string(history.epochs.size()) +
                           " completed epoch(s) and a checkpoint kept in " + run_dir +
                           " (continue with: cifar-exp resume " + run_dir + ")");
  }
  summary.status = "completed";
  write_summary(summary_path, summary);
  logger->info("Test accuracy {}, error {}, loss {:.4f}; {:.1f} s training",
               percent(final_test.accuracy), percent(1.0 - final_test.accuracy), final_test.loss,
               history.train_seconds);
  return {run_dir, summary};
}

// The test split's evaluation of the model as training left it: the last epoch's validation
// when that ran on the test split with these weights, else a new evaluation (the test split is
// read now when validation ran on other data); none when training stopped mid-way.
EvaluationResult test_evaluation(RunContext& run, TrainingInputs& inputs, const History& history,
                                 const std::shared_ptr<spdlog::logger>& logger) {
  const TrainingConfig& training = run.config.training;
  if (history.interrupted || history.epochs.empty()) {
    return training.validation == Validation::kTest ? history.last_validation : EvaluationResult{};
  }
  if (training.validation == Validation::kTest && !history.restored_best_weights) {
    return history.last_validation;
  }
  if (training.validation != Validation::kTest) run.add_test_inputs(inputs, logger);
  ClassifierImpl& evaluated = inputs.evaluation_model ? *inputs.evaluation_model : *inputs.model;
  EvaluationResult result = evaluate(evaluated, inputs.test, run.test.labels,
                                     training.eval_batch_size, training.precision);
  // A NaN or infinite test figure is divergence, as a training or validation one is.
  check_evaluation_finite(result, "test_",
                          history.restored_best_weights
                              ? "with the weights of epoch " + std::to_string(history.best_epoch)
                              : "after epoch " + std::to_string(history.epochs.back().epoch));
  return result;
}

// model.pt and weights.pt (the model as training left it) and, when fit kept the best epoch's
// weights, model.best.pt: the whole model with the trained part (`trained`: the model, or a
// frozen backbone's head) at its best epoch.
void save_model_files(RunContext& run, ClassifierImpl& trained, const History& history,
                      const std::string& run_dir, const std::shared_ptr<spdlog::logger>& logger) {
  const RunFolder folder(run_dir);
  save_model_file(*run.model, folder.model());
  save_portable_weights(*run.model, folder.weights());
  if (history.best_weights.empty()) {
    if (history.best_epoch > 0) {
      logger->warn(
          "{} not written: the checkpoint this run resumed from (an older cifar-exp) "
          "did not keep the best epoch's weights",
          folder.best_model());
    }
    return;
  }
  const std::vector<torch::Tensor> last = trained_state(trained);
  load_trained_state(trained, history.best_weights);
  save_model_file(*run.model, folder.best_model());
  load_trained_state(trained, last);
}

// fit()'s options for a run in `run_dir`: checkpoints there, the augmenter, stop on signals.
FitOptions run_fit_options(RunContext& run, const std::string& run_dir,
                           const Resumption* resumption,
                           const std::shared_ptr<spdlog::logger>& logger) {
  FitOptions options = FitOptions::from_config(run.config.training);
  options.checkpoint_path = RunFolder(run_dir).checkpoint();
  options.keep_best_weights = run.config.output.save_model;  // for model.best.pt
  options.resume_from = resumption ? resumption->checkpoint : "";
  if (run.augmenter) {
    Augmenter* augmenter = run.augmenter.get();
    options.augment = [augmenter](const torch::Tensor& batch) { return (*augmenter)(batch); };
    options.augment_generator = augmenter->generator();
    logger->info("Augmentation: {}", json_text(to_json(run.config).at("augmentation"), -1));
  }
  if (resumption) {
    const TrainingState& state = resumption->state;
    logger->info("Resuming from {}: epoch {} after batch {}, {} epoch(s) completed",
                 options.resume_from, state.epoch, state.batches_done, state.epochs.size());
  }
  install_run_stop_handlers();  // process.h: the first signal stops, a second exits
  options.stop_requested = stop_requested();
  return options;
}

// The HParams dashboard's values of a run: its configuration (the name without its grid point),
// seed, and the keys a grid point (in its name) or the command line set, as the resolved config
// has them (not the device, threads or output settings, which say where and how it ran).
std::map<std::string, nlohmann::json> run_hparams(const ExperimentConfig& config,
                                                  const ConfigOverrides& overrides) {
  const nlohmann::json resolved = to_json(config);
  std::map<std::string, nlohmann::json> hparams = {{"config", RunName::parse(config.name).base},
                                                   {"seed", config.training.seed}};
  std::vector<std::string> keys;
  for (const auto& [key, text] : RunName::parse(config.name).grid) keys.push_back(key);
  for (const auto& key : overridden_keys(overrides)) keys.push_back(key);
  for (const auto& key : keys) {
    // Said already (config, seed), or where and how it ran rather than what.
    if (key == "name" || key == "training.seed" || key == "training.device" ||
        key == "training.threads" || key.rfind("output.", 0) == 0) {
      continue;
    }
    if (const nlohmann::json* value = config_at(resolved, key)) hparams[key] = *value;
  }
  return hparams;
}

// The TensorBoard log's options (output.tensorboard): what the run starts with.
TensorBoardOptions tensorboard_options(RunContext& run, const std::string& run_dir,
                                       const RunSummary& summary,
                                       const ConfigOverrides& overrides) {
  TensorBoardOptions o;
  o.dir = RunFolder(run_dir).tensorboard();
  o.batch_interval = run.config.output.tensorboard_batch_interval;
  o.class_names = run.class_names;
  o.hparams = run_hparams(run.config, overrides);
  o.texts = {{"config", "```json\n" + json_text(to_json(run.config), 2) + "\n```"},
             {"provenance", "```json\n" + json_text(summary.provenance, 2) + "\n```"}};
  if (run.config.augmentation.enabled && run.train.size() > 0) {
    // From a generator of its own, so the run's augmentation draws are untouched.
    Augmenter preview(run.config.augmentation, run.config.training.seed);
    const auto originals = run.train.images.narrow(0, 0, std::min<int64_t>(8, run.train.size()))
                               .cpu()
                               .to(torch::kFloat32)
                               .div(255.0);
    std::vector<torch::Tensor> columns{originals};
    for (int v = 0; v < 4; ++v) columns.push_back(preview(originals));
    o.augmentation_preview = image_grid(columns);
  }
  return o;
}

// Trains (from scratch, or continuing `resumption`) and writes the run's results into `run_dir`.
// `overrides`: the command line's, for the TensorBoard log's hparams (a fresh run's).
RunResult train_in_run_folder(RunContext& run, const std::string& run_dir,
                              const Resumption* resumption,
                              const std::shared_ptr<spdlog::logger>& logger,
                              const ConfigOverrides& overrides = {}) {
  const std::string summary_path = RunFolder(run_dir).summary();
  RunSummary summary = summary_header(run, resumption);
  write_summary(summary_path, summary);
  warn_if_selected_on_test(run.config.training, logger);

  FitOptions options = run_fit_options(run, run_dir, resumption, logger);
  EpochLogger epoch_logger(logger);
  ProgressBar progress_bar;
  SummaryUpdater summary_updater(summary_path, summary);
  // metrics.csv is rewritten from the checkpoint's epochs, so it always matches the state.
  MetricsWriter metrics_writer(run_dir,
                               resumption ? resumption->state.epochs : std::vector<EpochMetrics>{});
  options.callbacks = {&progress_bar, &epoch_logger, &metrics_writer, &summary_updater};
  std::optional<TensorBoardLogger> tensorboard;
  if (run.config.output.tensorboard) {
    tensorboard.emplace(tensorboard_options(run, run_dir, summary, overrides));
    options.callbacks.push_back(&*tensorboard);
  }

  const auto wall_start = std::chrono::steady_clock::now();
  History history;
  EvaluationResult final_test;
  double feature_seconds = 0;
  try {
    TrainingInputs inputs = run.training_inputs(logger);
    feature_seconds = inputs.feature_seconds;
    options.evaluation_model = inputs.evaluation_model;
    history = fit(*inputs.model, inputs.train, run.train.labels, inputs.validation,
                  run.validation_labels(), options);
    final_test = test_evaluation(run, inputs, history, logger);
    if (run.config.training.validation != Validation::kTest) summary.test_images = run.test.size();
    if (run.config.output.save_model) {
      save_model_files(run, *inputs.model, history, run_dir, logger);
    }
    if (tensorboard) {
      tensorboard->finish(int64_t(history.epochs.size()), final_test, !history.interrupted);
    }
  } catch (const Error& e) {
    record_failure(summary_path, summary, e.what());
    if (tensorboard) tensorboard->end_failed();
    throw;
  } catch (const c10::Error& e) {
    record_failure(summary_path, summary, e.what_without_backtrace());
    if (tensorboard) tensorboard->end_failed();
    throw;
  }
  const double earlier_wall =
      resumption && resumption->earlier ? resumption->earlier->wall_seconds.value_or(0.0) : 0.0;
  summary.feature_seconds = feature_seconds;
  summary.wall_seconds =
      earlier_wall +
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  summary.finished_at = iso_utc_now();
  summary.updated_at = *summary.finished_at;
  add_results(summary, history, final_test, run.config.training);
  return finish_run(run_dir, summary, history, final_test, logger);
}

}  // namespace

RunResult run_experiment(const std::string& config_path, const ConfigOverrides& overrides,
                         const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_run_config(config_path, overrides);
  RunContextOptions options;
  options.validation = true;
  options.writable_output_dir = config.output.dir;
  RunContext run = make_run_context(std::move(config), options, logger);
  const std::string& output_dir = run.config.output.dir;
  const FileLock lock = lock_run(output_dir, run.config);

  const std::string run_dir =
      create_run_directory(output_dir, run.config.name, run.config.training.seed);
  add_log_file(logger, RunFolder(run_dir).log());
  write_file_atomic(RunFolder(run_dir).config(), json_text(to_json(run.config), 2) + "\n");
  log_run_header(run, run_dir, logger);
  return train_in_run_folder(run, run_dir, nullptr, logger, overrides);
}

namespace {

// The earlier summary.json of a run to resume: refused when the run has completed or its
// process is still running; a "running" run whose process is gone has crashed and may resume.
std::optional<RunSummary> resumable_summary(const std::string& run_dir,
                                            const std::shared_ptr<spdlog::logger>& logger) {
  const std::string summary_path = RunFolder(run_dir).summary();
  std::error_code ec;
  if (fs::exists(summary_path, ec) && !fs::is_regular_file(summary_path, ec)) {
    throw OutputError(summary_path + ": not a regular file");
  }
  if (!fs::is_regular_file(summary_path, ec)) return std::nullopt;
  const nlohmann::json doc = read_json_file(summary_path);
  RunSummary summary = RunSummary::from_json(doc, summary_path);
  // Not summary.status, which reads a missing status as "completed" (the first releases).
  const std::string status = schema::string_field(doc, "status", summary_path).value_or("");
  if (status == "completed") {
    throw ConfigError(run_dir +
                      ": the run has already completed (summary.json status "
                      "\"completed\"); start a new run instead");
  }
  if (status == "running") {
    if (process_alive(summary.process).value_or(false)) {
      throw BusyError(run_dir + ": the run is still running (pid " +
                      std::to_string(summary.process.pid) + ")");
    }
    logger->warn("{}: the run's process is gone without a word (crashed); resuming it", run_dir);
  }
  return summary;
}

// "; the previous checkpoint is intact ...: cifar-exp resume RUN --checkpoint PREV", or "" when
// there is no intact previous checkpoint to offer.
std::string intact_previous_hint(const std::string& run_dir, const std::string& checkpoint) {
  const std::string previous = previous_path(checkpoint);
  std::error_code ec;
  if (previous == checkpoint || !fs::is_regular_file(previous, ec)) return "";
  TrainingState state;
  try {
    state = peek_checkpoint(previous);
  } catch (const OutputError&) {
    return "";
  }
  return "; the previous checkpoint is intact (epoch " + std::to_string(state.epoch) + ", batch " +
         std::to_string(state.batches_done) + "): cifar-exp resume " + run_dir + " --checkpoint " +
         previous;
}

// The checkpoint's state, read before anything is touched. A corrupted checkpoint is refused
// (exit 5), offering the previous one when that is intact.
TrainingState readable_checkpoint(const std::string& run_dir, const std::string& checkpoint) {
  try {
    return peek_checkpoint(checkpoint);
  } catch (const OutputError& e) {
    const std::string hint = intact_previous_hint(run_dir, checkpoint);
    if (hint.empty()) throw;
    throw OutputError(first_line(e.what()) + hint);
  }
}

// ConfigError unless `run_dir` is a run folder (has config.json).
void check_run_folder(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec) || !fs::is_regular_file(RunFolder(run_dir).config(), ec)) {
    throw ConfigError(run_dir + ": not a run folder (no config.json)");
  }
}

// The checkpoint to continue from; ConfigError when it is missing.
std::string checkpoint_to_resume(const ResumeOptions& options) {
  std::error_code ec;
  if (options.checkpoint) {
    if (!fs::exists(*options.checkpoint, ec)) {
      throw ConfigError("--checkpoint: " + *options.checkpoint + ": no such file");
    }
    if (!fs::is_regular_file(*options.checkpoint, ec)) {
      throw ConfigError("--checkpoint: " + *options.checkpoint + ": not a regular file");
    }
    return *options.checkpoint;
  }
  const std::string checkpoint = RunFolder(options.run_dir).checkpoint();
  if (!fs::is_regular_file(checkpoint, ec)) {
    throw ConfigError(options.run_dir + ": no " + fs::path(checkpoint).filename().string() +
                      " to resume from (checkpoint.pt is written after each epoch and when a "
                      "run is interrupted)");
  }
  return checkpoint;
}

}  // namespace

RunResult resume_experiment(const ResumeOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger) {
  const std::string& run_dir = options.run_dir;
  check_run_folder(run_dir);
  ConfigOverrides overrides;
  overrides.threads = options.threads;
  overrides.device = options.device;
  ExperimentConfig config = load_run_folder_config(RunFolder(run_dir).config(), overrides);
  if (options.data_dir) config.data.dir = *options.data_dir;
  // The lock first: a run still going before its first checkpoint is busy, not unresumable.
  const FileLock lock = lock_run(fs::path(run_dir).parent_path().string(), config);
  Resumption resumption;
  resumption.checkpoint = checkpoint_to_resume(options);
  resumption.earlier = resumable_summary(run_dir, logger);
  resumption.state = readable_checkpoint(run_dir, resumption.checkpoint);
  RunContextOptions context_options;
  context_options.validation = true;
  context_options.writable_output_dir = run_dir;
  RunContext run = make_run_context(std::move(config), context_options, logger);
  // A checkpoint of another model is refused here, before the run folder is touched.
  check_checkpoint_fits(resumption.checkpoint, run.trained_module());

  remove_stale_temporaries(run_dir);
  add_log_file(logger, RunFolder(run_dir).log());
  log_run_header(run, run_dir, logger);
  return train_in_run_folder(run, run_dir, &resumption, logger);
}

void extract_features(const ExtractOptions& options,
                      const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_run_config(options.config_path, options.overrides);
  if (config.model.type != ModelType::kVgg16Transfer) {
    throw ConfigError(options.config_path +
                      ": model.type: extract-features needs \"vgg16_transfer\", got \"" +
                      to_string(config.model.type) + "\"");
  }
  if (options.split != "train" && options.split != "test") {
    throw ConfigError("--split: must be train or test, got \"" + options.split + "\"");
  }
  if (options.limit && *options.limit < 1) {
    throw ConfigError("--limit: must be a positive integer, got " + std::to_string(*options.limit));
  }
  const bool train = options.split == "train";
  (train ? config.data.train_limit : config.data.test_limit) = options.limit;
  RunContextOptions context_options;
  context_options.train_split = train;
  context_options.test_split = !train;
  RunContext run = make_run_context(std::move(config), context_options, logger);
  run.model->eval();
  const SplitData& split = train ? run.train : run.test;
  auto features = compute_features(*run.model, split.images, run.config.training.eval_batch_size,
                                   logger, options.split);
  write_npy(options.out, features);
  logger->info("Wrote {}: {} x {} float32 ({} split, backbone weights {}, preprocessing {})",
               options.out, features.size(0), features.size(1), options.split,
               run.config.model.weights, to_string(resolve_preprocess(run.config.model)));
}

void preview_augmentation(const PreviewOptions& options,
                          const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_run_config(options.config_path, options.overrides);
  if (options.count < 1 || options.count > 256) {
    throw ConfigError("--count: must be an integer from 1 to 256, got " +
                      std::to_string(options.count));
  }
  if (!config.augmentation.enabled) {
    logger->warn("{}: augmentation.enabled is false; previewing the configured transforms anyway",
                 options.config_path);
  }
  config.data.train_limit = options.count;
  RunContextOptions context_options;
  context_options.test_split = false;
  context_options.model = false;
  context_options.use_device = false;
  context_options.augmenter = true;
  RunContext run = make_run_context(std::move(config), context_options, logger);
  auto originals = run.train.images.to(torch::kFloat32).div(255.0);
  std::vector<torch::Tensor> columns{originals};
  for (int64_t v = 0; v < options.variants; ++v) columns.push_back((*run.augmenter)(originals));
  write_png(options.out, image_grid(columns));
  logger->info("Wrote {} ({} images, original then {} augmented versions per row)", options.out,
               originals.size(0), options.variants);
}

}  // namespace cifar_exp
