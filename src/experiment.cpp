#include "cifar_exp/experiment.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <thread>

#include <torch/version.h>

#include "cifar_exp/augmentation.h"
#include "cifar_exp/checkpoint.h"
#include "cifar_exp/data.h"
#include "cifar_exp/device.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/feature_cache.h"
#include "cifar_exp/files.h"
#include "cifar_exp/inference.h"
#include "cifar_exp/models.h"
#include "cifar_exp/provenance.h"
#include "cifar_exp/reporting.h"
#include "cifar_exp/training.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

std::string iso_utc_now() { return utc_now("%Y-%m-%dT%H:%M:%SZ"); }

// Ctrl-C / SIGTERM: the first asks training to stop after the current batch, a second one exits
// at once. Only a lock-free atomic is touched in the handler.
std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_signals{0};

extern "C" void on_stop_signal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(int(ExitCode::kInterrupted));
  g_stop_requested.store(true);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

nlohmann::json matrix_to_json(const torch::Tensor& matrix) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t r = 0; r < matrix.size(0); ++r) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t c = 0; c < matrix.size(1); ++c) row.push_back(matrix[r][c].item<int64_t>());
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

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

namespace {

// A run ready to train: validated config, data and a fresh model on the device.
struct PreparedRun {
  ExperimentConfig config;
  torch::Device device = torch::kCPU;
  int64_t threads = 0;
  std::unique_ptr<Cifar10> train, test;
  std::shared_ptr<ClassifierImpl> model;
  ParameterCounts params;
};

// Everything that can be checked, before any folder is made or touched; then a fresh model from
// the run's seed, and the data moved to the device once.
PreparedRun prepare_run(ExperimentConfig config, const std::string& output_dir) {
  PreparedRun run;
  run.device = resolve_device(config.training.device);
  run.threads = configure_threads(config.training.threads);
  // Fixed input shapes: let cuDNN time its algorithms once and keep the fastest.
  configure_device(run.device, config.training, /*autotune=*/true);
  check_data_files(config.data.dir);
  run.train =
      std::make_unique<Cifar10>(config.data.dir, Cifar10::Mode::kTrain, config.data.train_limit);
  run.test =
      std::make_unique<Cifar10>(config.data.dir, Cifar10::Mode::kTest, config.data.test_limit);
  check_output_dir(output_dir);

  torch::manual_seed(config.training.seed);
  run.model = build_model(config.model);
  run.model->to(run.device);
  run.train->to(run.device);
  run.test->to(run.device);
  run.params = count_parameters(*run.model);
  run.config = std::move(config);
  return run;
}

void log_run_header(const PreparedRun& run, const std::string& run_dir,
                    const std::shared_ptr<spdlog::logger>& logger) {
  const ExperimentConfig& config = run.config;
  logger->info("Run {} -> {}", config.name, run_dir);
  logger->info("Data {}: {} training and {} test images", config.data.dir,
               run.train->images().size(0), run.test->images().size(0));
  logger->info("Model {}: {} trainable and {} frozen parameters", run.model->kind(),
               run.params.trainable, run.params.frozen);
  logger->info("Device {} ({}), {} threads, precision {}{}, seed {}, libtorch {}", run.device.str(),
               device_name(run.device), run.threads, config.training.precision,
               run.device.is_cuda() ? (config.training.tf32 ? " with TF32" : " without TF32") : "",
               config.training.seed, torch_version());
  if (config.training.precision == "bf16" && run.device.is_cpu() && !cpu_has_native_bf16()) {
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
                 config.model.weights_format, resolve_preprocess(config.model),
                 config.model.input_size, config.model.input_size);
  }
}

// What `resume` found in the run folder, read once.
struct Resumption {
  std::string checkpoint;          // its path
  TrainingState state;             // position and epochs so far (model and optimizer: in fit)
  nlohmann::json earlier_summary;  // summary.json of the interrupted session, or {}
};

// The process recorded in a summary.json.
ProcessIdentity process_of(const nlohmann::json& summary) {
  return process_from_json(summary.value("process", nlohmann::json::object()));
}

// The lock that keeps two processes (two sweeps, two Slurm tasks) from running the same
// (output folder, config name, seed) at once; a crash releases it. BusyError when held.
FileLock lock_run(const std::string& output_dir, const ExperimentConfig& config) {
  const std::string path =
      (fs::path(output_dir) / ".locks" /
       (config.name + "-seed" + std::to_string(config.training.seed) + ".lock"))
          .string();
  auto lock = FileLock::try_acquire(path);
  if (!lock) {
    throw BusyError(config.name + " seed " + std::to_string(config.training.seed) +
                    " is already running in " + output_dir + " (another process holds " + path +
                    ")");
  }
  return std::move(*lock);
}

// summary.json's settings and identity, the same for every state of the run; `status` and the
// results are added as the run goes (running -> completed | interrupted | failed).
nlohmann::json summary_header(const PreparedRun& run, const nlohmann::json& earlier,
                              bool resuming) {
  const ExperimentConfig& config = run.config;
  const ProcessIdentity process = ProcessIdentity::current();
  return {{"name", config.name},
          {"status", "running"},
          {"model", run.model->kind()},
          {"augmentation", config.augmentation.enabled},
          {"transfer", transfer_kind(config.model)},
          {"weights",
           config.model.type == "vgg16_transfer" ? nlohmann::json(config.model.weights) : nullptr},
          {"epochs", config.training.epochs},
          {"epochs_completed", 0},
          {"batch_size", config.training.batch_size},
          {"precision", config.training.precision},
          {"seed", config.training.seed},
          {"trainable_params", run.params.trainable},
          {"frozen_params", run.params.frozen},
          {"train_images", run.train->images().size(0)},
          {"test_images", run.test->images().size(0)},
          {"device", run.device.str()},
          {"device_name", device_name(run.device)},
          {"tf32", run.device.is_cuda() && config.training.tf32},
          {"threads", run.threads},
          {"torch_version", torch_version()},
          {"cifar_exp_version", CIFAR_EXP_VERSION},
          {"data_dir", config.data.dir},
          {"started_at", earlier.value("started_at", iso_utc_now())},
          {"updated_at", iso_utc_now()},
          {"resumed", earlier.value("resumed", 0) + (resuming ? 1 : 0)},
          {"process", to_json(process)},
          {"reference_accuracy",
           config.reference_accuracy ? nlohmann::json(*config.reference_accuracy) : nullptr},
          {"class_names", run.test->class_names()},
          {"provenance", provenance(config.data.dir, config.output.cache_dir, run.device)}};
}

// The test split's evaluation after the last completed epoch, and the best epoch.
void add_results(nlohmann::json& summary, const History& history) {
  summary["epochs_completed"] = int64_t(history.epochs.size());
  summary["train_seconds"] = history.train_seconds;
  if (history.epochs.empty()) return;
  const EvaluationResult& final_test = history.final_test;
  size_t best = 0;
  for (size_t i = 1; i < history.epochs.size(); ++i) {
    if (history.epochs[i].val_accuracy > history.epochs[best].val_accuracy) best = i;
  }
  summary.update({{"test_accuracy", final_test.accuracy},
                  {"test_error", 1.0 - final_test.accuracy},
                  {"test_loss", final_test.loss},
                  {"best_epoch", history.epochs[best].epoch},
                  {"best_val_accuracy", history.epochs[best].val_accuracy},
                  {"images_per_second", history.epochs.back().images_per_second},
                  {"per_class_accuracy", final_test.per_class_accuracy()},
                  {"confusion_matrix", matrix_to_json(final_test.confusion)}});
}

// Keeps summary.json current while the run goes: after every epoch, how far it got. A run whose
// summary says "running" but whose process is gone has crashed (compare and sweeps tell).
class SummaryUpdater : public TrainingCallback {
 public:
  SummaryUpdater(std::string path, nlohmann::json& summary)
      : path_(std::move(path)), summary_(summary) {}
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override {
    summary_["epochs_completed"] = m.epoch;
    summary_["last_val_accuracy"] = val.accuracy;
    summary_["updated_at"] = iso_utc_now();
    write_file_atomic(path_, summary_.dump(2) + "\n");
  }

 private:
  std::string path_;
  nlohmann::json& summary_;
};

// Records a failure in summary.json when the disk still allows it; the error itself is what the
// user sees, so a second failure here is not reported over it.
void record_failure(const std::string& summary_path, nlohmann::json& summary,
                    const std::string& reason) {
  summary["status"] = "failed";
  summary["error"] = first_line(reason);
  summary["finished_at"] = iso_utc_now();
  try {
    write_file_atomic(summary_path, summary.dump(2) + "\n");
  } catch (const Error&) {
  }
}

// The final summary.json: completed, or interrupted (then InterruptedError, exit 130).
RunResult finish_run(const std::string& run_dir, const std::string& summary_path,
                     nlohmann::json& summary, const History& history,
                     const std::shared_ptr<spdlog::logger>& logger) {
  if (history.interrupted) {
    summary["status"] = "interrupted";
    summary["stopped_at"] = {{"epoch", history.stopped_at_epoch},
                             {"batch", history.stopped_at_batch}};
    write_file_atomic(summary_path, summary.dump(2) + "\n");
    throw InterruptedError("interrupted at epoch " + std::to_string(history.stopped_at_epoch) +
                           ", batch " + std::to_string(history.stopped_at_batch) + "; " +
                           std::to_string(history.epochs.size()) +
                           " completed epoch(s) and a checkpoint kept in " + run_dir +
                           " (continue with: cifar-exp resume " + run_dir + ")");
  }
  summary["status"] = "completed";
  write_file_atomic(summary_path, summary.dump(2) + "\n");
  const EvaluationResult& final_test = history.final_test;
  logger->info("Test accuracy {}, error {}, loss {:.4f}; {:.1f} s training",
               percent(final_test.accuracy), percent(1.0 - final_test.accuracy), final_test.loss,
               history.train_seconds);
  return {run_dir, summary};
}

// The training itself: the image model, or for a frozen backbone without augmentation the head
// on cached features (the backbone then sees each image once). Returns the feature time too.
History train_model(PreparedRun& run, FitOptions& options, double& feature_seconds,
                    const std::shared_ptr<spdlog::logger>& logger) {
  const ExperimentConfig& config = run.config;
  const Cifar10& train = *run.train;
  const Cifar10& test = *run.test;
  auto* vgg = dynamic_cast<Vgg16TransferImpl*>(run.model.get());
  if (vgg && vgg->backbone_frozen() && !config.augmentation.enabled) {
    const auto feature_start = std::chrono::steady_clock::now();
    auto train_features = cached_features(*vgg, train.images(), config.output.cache_dir,
                                          config.training.eval_batch_size, logger, "train");
    auto test_features = cached_features(*vgg, test.images(), config.output.cache_dir,
                                         config.training.eval_batch_size, logger, "test");
    feature_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - feature_start).count();
    logger->info("Backbone features ready in {:.1f} s; training the head on them", feature_seconds);
    return fit(*vgg->head, train_features, train.targets(), test_features, test.targets(), options);
  }
  return fit(*run.model, train.images(), train.targets(), test.images(), test.targets(), options);
}

// Trains (from scratch, or continuing `resumption`) and writes the run's results into `run_dir`.
RunResult train_in_run_folder(PreparedRun& run, const std::string& run_dir,
                              const Resumption* resumption,
                              const std::shared_ptr<spdlog::logger>& logger) {
  const nlohmann::json earlier =
      resumption ? resumption->earlier_summary : nlohmann::json::object();
  const ExperimentConfig& config = run.config;
  const std::string summary_path = (fs::path(run_dir) / "summary.json").string();
  nlohmann::json summary = summary_header(run, earlier, resumption != nullptr);
  write_file_atomic(summary_path, summary.dump(2) + "\n");

  EpochLogger epoch_logger(logger);
  ProgressBar progress_bar;
  SummaryUpdater summary_updater(summary_path, summary);
  FitOptions options = FitOptions::from_config(config.training);
  options.checkpoint_path = (fs::path(run_dir) / "checkpoint.pt").string();
  options.resume_from = resumption ? resumption->checkpoint : "";
  std::unique_ptr<Augmenter> augmenter;
  if (config.augmentation.enabled) {
    augmenter = std::make_unique<Augmenter>(config.augmentation, config.training.seed);
    options.augment = [&augmenter](const torch::Tensor& batch) { return (*augmenter)(batch); };
    options.augment_generator = augmenter->generator();
    logger->info("Augmentation: {}", to_json(config).at("augmentation").dump());
  }
  std::vector<EpochMetrics> earlier_epochs;
  if (resumption) {
    // metrics.csv is rewritten from the checkpoint's epochs, so it always matches the state.
    const TrainingState& state = resumption->state;
    earlier_epochs = state.epochs;
    logger->info("Resuming from {}: epoch {} after batch {}, {} epoch(s) completed",
                 options.resume_from, state.epoch, state.batches_done, state.epochs.size());
  }
  MetricsWriter metrics_writer(run_dir, earlier_epochs);
  options.callbacks = {&progress_bar, &epoch_logger, &metrics_writer, &summary_updater};
  install_stop_handlers();
  options.stop_requested = &g_stop_requested;

  const auto wall_start = std::chrono::steady_clock::now();
  History history;
  double feature_seconds = 0;
  try {
    history = train_model(run, options, feature_seconds, logger);
    if (config.output.save_model) {
      save_model_file(*run.model, (fs::path(run_dir) / "model.pt").string());
      save_portable_weights(*run.model, (fs::path(run_dir) / "weights.pt").string());
    }
  } catch (const Error& e) {
    record_failure(summary_path, summary, e.what());
    throw;
  } catch (const c10::Error& e) {
    record_failure(summary_path, summary, e.what_without_backtrace());
    throw;
  }
  summary["feature_seconds"] = feature_seconds;
  summary["wall_seconds"] =
      earlier.value("wall_seconds", 0.0) +
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  summary["finished_at"] = iso_utc_now();
  summary["updated_at"] = summary["finished_at"];
  add_results(summary, history);
  return finish_run(run_dir, summary_path, summary, history, logger);
}

}  // namespace

RunResult run_experiment(const std::string& config_path, const ConfigOverrides& overrides,
                         const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_config(config_path, overrides);
  config.data.dir = resolve_data_dir(overrides.data_dir, config.data.dir);
  const std::string output_dir = config.output.dir;
  PreparedRun run = prepare_run(std::move(config), output_dir);
  const FileLock lock = lock_run(output_dir, run.config);

  const std::string run_dir = create_run_directory(output_dir, run.config.name);
  add_log_file(logger, (fs::path(run_dir) / "train.log").string());
  write_file_atomic((fs::path(run_dir) / "config.json").string(),
                    to_json(run.config).dump(2) + "\n");
  log_run_header(run, run_dir, logger);
  return train_in_run_folder(run, run_dir, nullptr, logger);
}

namespace {

// The earlier summary.json of a run to resume: refused when the run has completed or its
// process is still running; a "running" run whose process is gone has crashed and may resume.
nlohmann::json resumable_summary(const std::string& run_dir,
                                 const std::shared_ptr<spdlog::logger>& logger) {
  const std::string summary_path = (fs::path(run_dir) / "summary.json").string();
  std::error_code ec;
  if (!fs::is_regular_file(summary_path, ec)) return nlohmann::json::object();
  nlohmann::json summary = read_json_file(summary_path);
  const std::string status = summary.value("status", "");
  if (status == "completed") {
    throw ConfigError(run_dir +
                      ": the run has already completed (summary.json status "
                      "\"completed\"); start a new run instead");
  }
  if (status == "running") {
    const auto alive = process_alive(process_of(summary));
    if (alive.value_or(false)) {
      throw BusyError(run_dir + ": the run is still running (pid " +
                      std::to_string(process_of(summary).pid) + ")");
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

// Temporary files of a process that died while writing (we hold the run's lock now).
void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) {
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace

RunResult resume_experiment(const ResumeOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger) {
  const std::string& run_dir = options.run_dir;
  std::error_code ec;
  const std::string config_path = (fs::path(run_dir) / "config.json").string();
  if (!fs::is_directory(run_dir, ec) || !fs::is_regular_file(config_path, ec)) {
    throw ConfigError(run_dir + ": not a run folder (no config.json)");
  }
  const std::string checkpoint =
      options.checkpoint ? *options.checkpoint : (fs::path(run_dir) / "checkpoint.pt").string();
  if (!fs::is_regular_file(checkpoint, ec)) {
    throw ConfigError(run_dir + ": no " + fs::path(checkpoint).filename().string() +
                      " to resume from (checkpoint.pt is written after each epoch and when a "
                      "run is interrupted)");
  }
  ConfigOverrides overrides;
  overrides.threads = options.threads;
  overrides.device = options.device;
  ExperimentConfig config = load_config(config_path, overrides);
  if (options.data_dir) config.data.dir = *options.data_dir;
  const FileLock lock = lock_run(fs::path(run_dir).parent_path().string(), config);
  Resumption resumption;
  resumption.checkpoint = checkpoint;
  resumption.earlier_summary = resumable_summary(run_dir, logger);
  resumption.state = readable_checkpoint(run_dir, checkpoint);
  PreparedRun run = prepare_run(std::move(config), run_dir);

  remove_stale_temporaries(run_dir);
  add_log_file(logger, (fs::path(run_dir) / "train.log").string());
  log_run_header(run, run_dir, logger);
  return train_in_run_folder(run, run_dir, &resumption, logger);
}

void extract_features(const ExtractOptions& options,
                      const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_config(options.config_path, options.overrides);
  config.data.dir = resolve_data_dir(options.overrides.data_dir, config.data.dir);
  if (config.model.type != "vgg16_transfer") {
    throw ConfigError(options.config_path +
                      ": model.type: extract-features needs \"vgg16_transfer\", got \"" +
                      config.model.type + "\"");
  }
  if (options.split != "train" && options.split != "test") {
    throw ConfigError("--split: must be train or test, got \"" + options.split + "\"");
  }
  if (options.limit && *options.limit < 1) {
    throw ConfigError("--limit: must be a positive integer, got " + std::to_string(*options.limit));
  }
  const torch::Device device = resolve_device(config.training.device);
  configure_threads(config.training.threads);
  configure_device(device, config.training, /*autotune=*/true);
  Cifar10 data(config.data.dir,
               options.split == "train" ? Cifar10::Mode::kTrain : Cifar10::Mode::kTest,
               options.limit);
  torch::manual_seed(config.training.seed);
  auto model = build_model(config.model);
  auto* vgg = dynamic_cast<Vgg16TransferImpl*>(model.get());
  model->to(device);
  model->eval();
  data.to(device);
  auto features =
      compute_features(*vgg, data.images(), config.training.eval_batch_size, logger, options.split);
  write_npy(options.out, features);
  logger->info("Wrote {}: {} x {} float32 ({} split, backbone weights {}, preprocessing {})",
               options.out, features.size(0), features.size(1), options.split, config.model.weights,
               vgg->preprocessing());
}

void preview_augmentation(const PreviewOptions& options,
                          const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = load_config(options.config_path, options.overrides);
  config.data.dir = resolve_data_dir(options.overrides.data_dir, config.data.dir);
  if (options.count < 1 || options.count > 256) {
    throw ConfigError("--count: must be an integer from 1 to 256, got " +
                      std::to_string(options.count));
  }
  if (!config.augmentation.enabled) {
    logger->warn("{}: augmentation.enabled is false; previewing the configured transforms anyway",
                 options.config_path);
  }
  Cifar10 train(config.data.dir, Cifar10::Mode::kTrain, options.count);
  const int64_t n = train.images().size(0);
  auto originals = train.images().to(torch::kFloat32).div(255.0);
  Augmenter augmenter(config.augmentation, config.training.seed);
  std::vector<torch::Tensor> columns{originals};
  for (int64_t v = 0; v < options.variants; ++v) columns.push_back(augmenter(originals));

  // Tiles of 32 x 32 scaled 3x, 4-pixel white gutters; the original is the first column.
  const int64_t scale = 3, tile = kImageSize * scale, gap = 4;
  const int64_t cols = int64_t(columns.size());
  auto grid =
      torch::full({n * (tile + gap) + gap, cols * (tile + gap) + gap, 3}, 255, torch::kUInt8);
  for (int64_t c = 0; c < cols; ++c) {
    auto pixels = columns[size_t(c)]
                      .clamp(0, 1)
                      .mul(255)
                      .round()
                      .to(torch::kUInt8)
                      .repeat_interleave(scale, 2)
                      .repeat_interleave(scale, 3)
                      .permute({0, 2, 3, 1});  // N x H x W x 3
    for (int64_t r = 0; r < n; ++r) {
      grid.narrow(0, gap + r * (tile + gap), tile)
          .narrow(1, gap + c * (tile + gap), tile)
          .copy_(pixels[r]);
    }
  }
  write_png(options.out, grid);
  logger->info("Wrote {} ({} images, original then {} augmented versions per row)", options.out, n,
               options.variants);
}

}  // namespace cifar_exp
