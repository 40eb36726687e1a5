#include "cifar_exp/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>

#include "cifar_exp/augmentation.h"
#include "cifar_exp/data.h"
#include "cifar_exp/device.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/experiment.h"
#include "cifar_exp/feature_cache.h"
#include "cifar_exp/models.h"
#include "cifar_exp/training.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// The phases in the order they happen, for tables.
const std::vector<std::string> kPhaseOrder = {"gather",     "augment",   "forward",
                                              "backward",   "optimizer", "metrics",
                                              "train_step", "features",  "eval"};

}  // namespace

PhaseStats PhaseStats::of(std::vector<double> ms) {
  PhaseStats s;
  s.count = int64_t(ms.size());
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.min_ms = ms.front();
  s.median_ms =
      ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  s.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
  double var = 0;
  for (double v : ms) var += (v - s.mean_ms) * (v - s.mean_ms);
  s.std_ms = ms.size() > 1 ? std::sqrt(var / double(ms.size() - 1)) : 0.0;
  return s;
}

nlohmann::json run_benchmark(const BenchOptions& options,
                             const std::shared_ptr<spdlog::logger>& logger) {
  if (options.iterations < 1) {
    throw ConfigError("--iterations: must be a positive integer, got " +
                      std::to_string(options.iterations));
  }
  if (options.warmup < 0) {
    throw ConfigError("--warmup: must be 0 or more, got " + std::to_string(options.warmup));
  }
  ExperimentConfig config = load_config(options.config_path, options.overrides);
  config.data.dir = resolve_data_dir(options.overrides.data_dir, config.data.dir);
  if (options.precision) {
    if (*options.precision != "fp32" && *options.precision != "bf16") {
      throw ConfigError("--precision: must be fp32 or bf16, got \"" + *options.precision + "\"");
    }
    config.training.precision = *options.precision;
  }
  const TrainingConfig& t = config.training;
  const torch::Device device = resolve_device(t.device);
  const int64_t threads = configure_threads(t.threads);
  configure_device(device, t, /*autotune=*/true);
  auto sync = [&] { synchronize(device); };

  // Data: the real split when it is there (timing does not depend on the pixels otherwise).
  torch::manual_seed(t.seed);
  const int64_t steps = options.warmup + options.iterations;
  torch::Tensor train_images, train_labels, test_images, test_labels;
  std::string data_kind = "real";
  try {
    check_data_files(config.data.dir);
    Cifar10 train(config.data.dir, Cifar10::Mode::kTrain, config.data.train_limit);
    Cifar10 test(config.data.dir, Cifar10::Mode::kTest, t.eval_batch_size);
    train_images = train.images();
    train_labels = train.targets();
    test_images = test.images();
    test_labels = test.targets();
  } catch (const DataError& e) {
    logger->warn("{}; timing on generated data", first_line(e.what()));
    data_kind = "generated";
    const int64_t n = std::max<int64_t>(t.batch_size * steps, 1024);
    train_images = torch::randint(0, 256, {n, kChannels, kImageSize, kImageSize}, torch::kUInt8);
    train_labels = torch::randint(0, kNumClasses, {n}, torch::kInt64);
    test_images = torch::randint(0, 256, {t.eval_batch_size, kChannels, kImageSize, kImageSize},
                                 torch::kUInt8);
    test_labels = torch::randint(0, kNumClasses, {t.eval_batch_size}, torch::kInt64);
  }
  train_images = train_images.to(device);
  train_labels = train_labels.to(device);
  test_images = test_images.to(device);
  test_labels = test_labels.to(device);

  // Model: as the run builds it; a missing weights file times a random backbone instead.
  ModelConfig model_config = config.model;
  std::string weights_note;
  if (model_config.type == "vgg16_transfer" && model_config.weights != "random" &&
      !fs::exists(model_config.weights)) {
    weights_note = "random (" + model_config.weights + " not found; same cost)";
    logger->warn("{} not found: timing with random backbone weights (same cost)",
                 model_config.weights);
    model_config.weights = "random";
  }
  auto model = build_model(model_config);
  model->to(device);

  std::map<std::string, std::vector<double>> timings;
  const int64_t eval_steps = std::max<int64_t>(2, options.iterations / 10);
  const int64_t eval_warmup = options.warmup > 0 ? 2 : 0;  // the first grow the heap

  // The runner trains a frozen backbone's head on features computed once (without
  // augmentation); time that backbone pass and train the head on such features.
  ClassifierImpl* trained = model.get();
  torch::Tensor train_inputs = train_images, eval_inputs = test_images;
  auto* vgg = dynamic_cast<Vgg16TransferImpl*>(model.get());
  const bool cached_path = vgg && vgg->backbone_frozen() && !config.augmentation.enabled;
  if (cached_path) {
    model->eval();
    for (int64_t i = 0; i < eval_warmup + eval_steps; ++i) {
      const auto start = Clock::now();
      eval_inputs = compute_features(*vgg, test_images, t.eval_batch_size);
      sync();
      if (i >= eval_warmup) timings["features"].push_back(ms_between(start, Clock::now()));
    }
    // Features for the rows the timed steps visit (the pixels do not change the cost).
    const int64_t rows = std::min<int64_t>(train_images.size(0), t.batch_size * steps);
    auto features = torch::empty({rows, eval_inputs.size(1)}, eval_inputs.options());
    for (int64_t start = 0; start < rows; start += eval_inputs.size(0)) {
      const int64_t count = std::min<int64_t>(eval_inputs.size(0), rows - start);
      features.narrow(0, start, count).copy_(eval_inputs.narrow(0, 0, count));
    }
    train_inputs = features;
    train_labels = train_labels.narrow(0, 0, rows);
    trained = vgg->head.get();
  }

  FitOptions fit_options = FitOptions::from_config(t);
  torch::optim::Adam optimizer(trainable_parameters(*trained), adam_options(fit_options));
  std::unique_ptr<Augmenter> augmenter;
  if (config.augmentation.enabled) {
    augmenter = std::make_unique<Augmenter>(config.augmentation, t.seed);
    fit_options.augment = [&augmenter](const torch::Tensor& batch) { return (*augmenter)(batch); };
  }

  // Training steps, phase by phase: fit()'s own train_step, timed.
  trained->train();
  const int64_t n = train_inputs.size(0);
  auto order = torch::randperm(n, torch::kInt64).to(device);
  int64_t position = 0;
  BatchProgress progress;
  progress.loss_sum =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  progress.correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  logger->info("Timing {} warm-up and {} training steps of batch {}", options.warmup,
               options.iterations, t.batch_size);
  for (int64_t i = 0; i < steps; ++i) {
    if (position + t.batch_size > n) {
      order = torch::randperm(n, torch::kInt64).to(device);
      position = 0;
    }
    const int64_t count = std::min(t.batch_size, n);
    StepTimes step;
    const auto start = Clock::now();
    train_step(*trained, optimizer, train_inputs, train_labels, order.narrow(0, position, count),
               fit_options, progress, &step);
    const double total_ms = ms_between(start, Clock::now());
    position += count;
    if (i < options.warmup) continue;
    timings["gather"].push_back(step.gather_ms);
    if (augmenter) timings["augment"].push_back(step.augment_ms);
    timings["forward"].push_back(step.forward_ms);
    timings["backward"].push_back(step.backward_ms);
    timings["optimizer"].push_back(step.optimizer_ms);
    timings["metrics"].push_back(step.metrics_ms);
    timings["train_step"].push_back(total_ms);
  }

  // Evaluation of one eval batch (the head on features for the cached path).
  auto eval_labels = test_labels.narrow(0, 0, std::min(t.eval_batch_size, test_labels.size(0)));
  auto eval_batch = eval_inputs.narrow(0, 0, eval_labels.size(0));
  for (int64_t i = 0; i < eval_warmup + eval_steps; ++i) {
    const auto start = Clock::now();
    evaluate(*trained, eval_batch, eval_labels, t.eval_batch_size, t.precision);
    sync();
    if (i >= eval_warmup) timings["eval"].push_back(ms_between(start, Clock::now()));
  }

  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, values] : timings) {
    const PhaseStats s = PhaseStats::of(values);
    phases[name] = {{"mean_ms", s.mean_ms},
                    {"std_ms", s.std_ms},
                    {"median_ms", s.median_ms},
                    {"min_ms", s.min_ms},
                    {"count", s.count}};
  }
  const double step_ms = phases["train_step"]["mean_ms"];
  const double eval_ms = phases["eval"]["mean_ms"];
  nlohmann::json report = {
      {"tool", "cifar-exp"},
      {"config", config.name},
      {"model", config.model.type},
      {"augmentation", config.augmentation.enabled},
      {"batch_size", t.batch_size},
      {"eval_batch_size", eval_labels.size(0)},
      {"threads", threads},
      {"device", device.str()},
      {"precision", t.precision},
      {"torch_version", torch_version()},
      {"iterations", options.iterations},
      {"warmup", options.warmup},
      {"data", data_kind},
      {"cpu", cpu_model()},
      {"phases", phases},
      {"train_images_per_second", double(t.batch_size) / (step_ms / 1000.0)},
      {"eval_images_per_second", double(eval_labels.size(0)) / (eval_ms / 1000.0)}};
  if (cached_path) {
    const double features_ms = phases["features"]["mean_ms"];
    report["features_images_per_second"] = double(test_images.size(0)) / (features_ms / 1000.0);
    report["note"] =
        "frozen backbone without augmentation: the head trains on features computed once "
        "(phase features = backbone over one eval batch)";
  }
  if (!weights_note.empty()) report["weights"] = weights_note;
  return report;
}

std::string format_benchmark_table(const nlohmann::json& r) {
  std::ostringstream out;
  out << "cifar-exp bench: " << r["config"].get<std::string>() << " ("
      << r["model"].get<std::string>()
      << (r["augmentation"].get<bool>() ? ", augmentation" : ", no augmentation") << "), "
      << r["device"].get<std::string>() << ", " << r["threads"].get<int64_t>() << " threads, "
      << r["precision"].get<std::string>() << ", libtorch " << r["torch_version"].get<std::string>()
      << ", " << r["data"].get<std::string>() << " data\n";
  out << "CPU: " << r["cpu"].get<std::string>() << "\n";
  out << "batch " << r["batch_size"].get<int64_t>() << ", " << r["warmup"].get<int64_t>()
      << " warm-up + " << r["iterations"].get<int64_t>() << " timed steps; eval batch "
      << r["eval_batch_size"].get<int64_t>() << "\n";
  if (r.contains("weights")) out << "weights: " << r["weights"].get<std::string>() << "\n";
  out << "\n"
      << std::left << std::setw(12) << "phase" << std::right << std::setw(10) << "mean ms"
      << std::setw(10) << "std ms" << std::setw(11) << "median ms" << std::setw(10) << "min ms"
      << std::setw(7) << "n"
      << "\n";
  out << std::fixed << std::setprecision(3);
  for (const auto& name : kPhaseOrder) {
    if (!r["phases"].contains(name)) continue;
    const auto& p = r["phases"][name];
    out << std::left << std::setw(12) << name << std::right << std::setw(10)
        << p["mean_ms"].get<double>() << std::setw(10) << p["std_ms"].get<double>() << std::setw(11)
        << p["median_ms"].get<double>() << std::setw(10) << p["min_ms"].get<double>()
        << std::setw(7) << p["count"].get<int64_t>() << "\n";
  }
  out << std::setprecision(0) << "\ntraining: " << r["train_images_per_second"].get<double>()
      << " images/s, evaluation: " << r["eval_images_per_second"].get<double>() << " images/s";
  if (r.contains("features_images_per_second")) {
    out << ", backbone features: " << r["features_images_per_second"].get<double>() << " images/s";
  }
  out << "\n";
  return out.str();
}

}  // namespace cifar_exp
