// The `bench` command: each phase of a training step and evaluation timed (benchmark.h).
#include "cifar_exp/experiment/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>

#include "cifar_exp/data/augmentation.h"
#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/experiment/run_context.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/feature_cache.h"
#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/models/kernels/backbone_path.h"
#include "cifar_exp/models/kernels/kernels.h"
#include "cifar_exp/models/kernels/onednn_backbone.h"
#include "cifar_exp/models/kernels/small_conv.h"
#include "cifar_exp/models/kernels/winograd.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/models/vgg16_layers.h"
#include "cifar_exp/training/fit.h"
#include "cifar_exp/training/optimizers.h"
#include "cifar_exp/training/trained_state.h"

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

namespace {

using Timings = std::map<std::string, std::vector<double>>;

ExperimentConfig bench_config(const BenchOptions& options) {
  if (options.iterations < 1) {
    throw ConfigError("--iterations: must be a positive integer, got " +
                      std::to_string(options.iterations));
  }
  if (options.warmup < 0) {
    throw ConfigError("--warmup: must be 0 or more, got " + std::to_string(options.warmup));
  }
  ExperimentConfig config = load_run_config(options.config_path, options.overrides);
  if (options.precision) {
    const auto precision = choice_from_name<Precision>(*options.precision);
    if (!precision) {
      throw ConfigError("--precision: must be fp32 or bf16, got \"" + *options.precision + "\"");
    }
    config.training.precision = *precision;
  }
  // Evaluation is timed on one eval batch of the test split.
  config.data.test_limit = config.training.eval_batch_size;
  return config;
}

// Untimed evaluation and backbone-feature calls before the timed ones (the first grow the heap),
// when there is a warm-up at all. bench/bench_common.py's EVAL_WARMUP is this count (checked by
// bench/bench_test.py), so that the Python references warm up as often.
constexpr int64_t kEvalWarmup = 2;

int64_t eval_warmup_calls(const BenchOptions& options) {
  return options.warmup > 0 ? kEvalWarmup : 0;
}

// What the timed steps train: the whole model on images, or, where a run would train a frozen
// backbone's head on features computed once, that head on such features (the backbone pass
// itself timed as phase "features").
struct BenchInputs {
  ClassifierImpl* trained = nullptr;
  torch::Tensor train, train_labels, eval;
};

BenchInputs bench_inputs(RunContext& run, int64_t steps, int64_t eval_warmup, int64_t eval_steps,
                         Timings& timings) {
  const TrainingConfig& t = run.config.training;
  BenchInputs in{run.model.get(), run.train.images, run.train.labels, run.test.images};
  if (!run.trains_on_features()) return in;
  run.model->eval();
  AutocastScope autocast(run.device, t.precision);  // as RunContext::training_inputs
  for (int64_t i = 0; i < eval_warmup + eval_steps; ++i) {
    const auto start = Clock::now();
    in.eval = compute_features(*run.model, run.test.images, t.eval_batch_size);
    synchronize(run.device);
    if (i >= eval_warmup) timings["features"].push_back(ms_between(start, Clock::now()));
  }
  // Features for the rows the timed steps visit (the pixels do not change the cost).
  const int64_t rows = std::min<int64_t>(run.train.size(), t.batch_size * steps);
  auto features = torch::empty({rows, in.eval.size(1)}, in.eval.options());
  for (int64_t start = 0; start < rows; start += in.eval.size(0)) {
    const int64_t count = std::min<int64_t>(in.eval.size(0), rows - start);
    features.narrow(0, start, count).copy_(in.eval.narrow(0, 0, count));
  }
  in.train = features;
  in.train_labels = run.train.labels.narrow(0, 0, rows);
  in.trained = &run.model->feature_source()->feature_head();
  return in;
}

// On CUDA, `steps` consecutive training steps timed between two synchronisations, as fit() runs
// them: the phase marks wait for the GPU several times a step, so the phase times understate the
// throughput.
struct TrainWindow {
  int64_t steps = 0;
  double ms = 0;
};

// Training steps, phase by phase: fit()'s own train_step, timed after `warmup` untimed ones; on
// CUDA then `iterations` more for the throughput (`window`).
void time_training(RunContext& run, const BenchInputs& in, const BenchOptions& options,
                   Timings& timings, TrainWindow& window) {
  const TrainingConfig& t = run.config.training;
  FitOptions fit_options = FitOptions::from_config(t);
  const auto optimizer_owner = make_optimizer(trainable_parameters(*in.trained), t);
  torch::optim::Optimizer& optimizer = *optimizer_owner;
  if (run.augmenter) {
    Augmenter* augmenter = run.augmenter.get();
    fit_options.augment = [augmenter](const torch::Tensor& batch) { return (*augmenter)(batch); };
  }
  in.trained->train();
  const int64_t n = in.train.size(0);
  EpochIterator batches(n, t.batch_size, run.device);
  BatchProgress progress;
  progress.loss_sum =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(run.device));
  progress.correct =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(run.device));
  for (int64_t i = 0; i < options.warmup + options.iterations; ++i) {
    // Whole batches only: a new shuffle where the epoch's last, shorter batch would come.
    if (i == 0 || (batches.batches_done() + 1) * t.batch_size > n) batches.shuffle();
    StepTimes step;
    const auto start = Clock::now();
    train_step(*in.trained, optimizer, in.train, in.train_labels, batches.next(), fit_options,
               progress, &step);
    const double total_ms = ms_between(start, Clock::now());
    if (i < options.warmup) continue;
    timings["gather"].push_back(step.gather_ms);
    if (run.augmenter) timings["augment"].push_back(step.augment_ms);
    timings["forward"].push_back(step.forward_ms);
    timings["backward"].push_back(step.backward_ms);
    timings["optimizer"].push_back(step.optimizer_ms);
    timings["metrics"].push_back(step.metrics_ms);
    timings["train_step"].push_back(total_ms);
  }
  // On the CPU nothing is queued: the steps above are already back to back.
  if (!run.device.is_cuda()) return;
  synchronize(run.device);
  const auto start = Clock::now();
  for (int64_t i = 0; i < options.iterations; ++i) {
    if ((batches.batches_done() + 1) * t.batch_size > n) batches.shuffle();
    train_step(*in.trained, optimizer, in.train, in.train_labels, batches.next(), fit_options,
               progress);
  }
  synchronize(run.device);
  window = {options.iterations, ms_between(start, Clock::now())};
}

// Evaluation of one eval batch (the head on features where training uses them).
void time_evaluation(RunContext& run, const BenchInputs& in, int64_t eval_warmup,
                     int64_t eval_steps, Timings& timings) {
  const TrainingConfig& t = run.config.training;
  for (int64_t i = 0; i < eval_warmup + eval_steps; ++i) {
    const auto start = Clock::now();
    evaluate(*in.trained, in.eval, run.test.labels, t.eval_batch_size, t.precision);
    synchronize(run.device);
    if (i >= eval_warmup) timings["eval"].push_back(ms_between(start, Clock::now()));
  }
}

nlohmann::json phases_json(const Timings& timings) {
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, values] : timings) {
    const PhaseStats s = PhaseStats::of(values);
    phases[name] = {{"mean_ms", s.mean_ms},
                    {"std_ms", s.std_ms},
                    {"median_ms", s.median_ms},
                    {"min_ms", s.min_ms},
                    {"count", s.count}};
  }
  return phases;
}

// The small CNN's convolution kernels per layer (SmallCnnImpl::convolution_kernels), or null.
nlohmann::json small_cnn_convolutions(const RunContext& run) {
  const auto* cnn = dynamic_cast<const SmallCnnImpl*>(run.model.get());
  if (!cnn) return nullptr;
  return cnn->convolution_kernels(run.device, run.config.training.precision == Precision::kFp32);
}

nlohmann::json bench_report(const RunContext& run, const BenchOptions& options,
                            const Timings& timings, const TrainWindow& window) {
  const TrainingConfig& t = run.config.training;
  const nlohmann::json phases = phases_json(timings);
  const double step_ms = window.steps > 0 ? window.ms / double(window.steps)
                                          : phases["train_step"]["mean_ms"].get<double>();
  const double eval_ms = phases["eval"]["mean_ms"];
  const int64_t eval_images = run.test.size();
  // The frozen backbone's path ("libtorch": its direct convolutions, or any other model), or the
  // small CNN's kernels ("own_avx512" where all three are ours, "+"-joined per layer if mixed).
  const ConvolutionPath path = backbone_convolution(*run.model, run.device, t.precision).path;
  std::string convolution = path == ConvolutionPath::kDirect ? "libtorch" : to_string(path);
  const nlohmann::json small_cnn = small_cnn_convolutions(run);
  if (small_cnn.is_array()) {
    const auto names = small_cnn.get<std::vector<std::string>>();
    convolution = names[0];
    if (names[1] != names[0] || names[2] != names[0]) {
      convolution = names[0] + "+" + names[1] + "+" + names[2];
    }
  }
  nlohmann::json report = {{"tool", "cifar-exp"},
                           {"config", run.config.name},
                           {"model", to_string(run.config.model.type)},
                           {"augmentation", run.config.augmentation.enabled},
                           {"batch_size", t.batch_size},
                           {"eval_batch_size", eval_images},
                           {"threads", run.threads},
                           {"device", run.device.str()},
                           {"precision", to_string(t.precision)},
                           {"kernels", to_string(run.config.model.kernels)},
                           {"small_cnn_convolutions", small_cnn},
                           {"convolution", convolution},
                           {"torch_version", torch_version()},
                           {"iterations", options.iterations},
                           {"warmup", options.warmup},
                           {"eval_warmup", eval_warmup_calls(options)},
                           {"data", run.data_kind},
                           {"cpu", cpu_model()},
                           {"phases", phases},
                           {"train_images_per_second", double(t.batch_size) / (step_ms / 1000.0)},
                           {"eval_images_per_second", double(eval_images) / (eval_ms / 1000.0)}};
  if (phases.contains("features")) {
    const double features_ms = phases["features"]["mean_ms"];
    report["features_images_per_second"] = double(eval_images) / (features_ms / 1000.0);
    report["note"] =
        "frozen backbone without augmentation: the head trains on features computed once "
        "(phase features = backbone over one eval batch)";
  }
  if (window.steps > 0) {
    report["phase_timing"] = "synchronised per phase";
    report["train_throughput"] = {{"steps", window.steps},
                                  {"total_ms", window.ms},
                                  {"step_ms", step_ms},
                                  {"timing", "consecutive steps between two synchronisations"}};
  }
  if (!run.weights_note.empty()) report["weights"] = run.weights_note;
  return report;
}

}  // namespace

nlohmann::json run_benchmark(const BenchOptions& options,
                             const std::shared_ptr<spdlog::logger>& logger) {
  ExperimentConfig config = bench_config(options);
  const int64_t steps = options.warmup + options.iterations;
  RunContextOptions context_options;
  context_options.stand_ins_for_missing_files = true;
  context_options.stand_in_train_rows = std::max<int64_t>(config.training.batch_size * steps, 1024);
  RunContext run = make_run_context(std::move(config), context_options, logger);

  Timings timings;
  const int64_t eval_steps = std::max<int64_t>(2, options.iterations / 10);
  const int64_t eval_warmup = eval_warmup_calls(options);
  const BenchInputs inputs = bench_inputs(run, steps, eval_warmup, eval_steps, timings);
  logger->info("Timing {} warm-up and {} training steps of batch {}", options.warmup,
               options.iterations, run.config.training.batch_size);
  TrainWindow window;
  time_training(run, inputs, options, timings, window);
  time_evaluation(run, inputs, eval_warmup, eval_steps, timings);
  return bench_report(run, options, timings, window);
}

namespace {
// "convolutions own_avx512, libtorch, own_avx512, " for a small-CNN report, else "".
std::string small_cnn_convolutions_text(const nlohmann::json& r) {
  if (!r.contains("small_cnn_convolutions") || !r["small_cnn_convolutions"].is_array()) return "";
  std::string text = "convolutions ";
  for (const auto& name : r["small_cnn_convolutions"]) text += name.get<std::string>() + ", ";
  return text;
}

// The frozen backbone's convolutions for the table's first line ("" for libtorch's).
std::string backbone_convolution_text(const std::string& convolution) {
  if (convolution == "onednn_winograd") return "oneDNN Winograd convolutions, ";
  if (convolution == "winograd_avx2") return "AVX2 Winograd convolutions (ours), ";
  if (convolution == "winograd_avx512") return "AVX-512 Winograd convolutions (ours), ";
  return "";
}
}  // namespace

std::string format_benchmark_table(const nlohmann::json& r) {
  std::ostringstream out;
  out << "cifar-exp bench: " << r["config"].get<std::string>() << " ("
      << r["model"].get<std::string>()
      << (r["augmentation"].get<bool>() ? ", augmentation" : ", no augmentation") << "), "
      << r["device"].get<std::string>() << ", " << r["threads"].get<int64_t>() << " threads, "
      << r["precision"].get<std::string>() << ", " << r["kernels"].get<std::string>()
      << " kernels, " << small_cnn_convolutions_text(r)
      << backbone_convolution_text(r.value("convolution", "libtorch")) << "libtorch "
      << r["torch_version"].get<std::string>() << ", " << r["data"].get<std::string>() << " data\n";
  out << "CPU: " << r["cpu"].get<std::string>() << "\n";
  out << "batch " << r["batch_size"].get<int64_t>() << ", " << r["warmup"].get<int64_t>()
      << " warm-up + " << r["iterations"].get<int64_t>() << " timed steps; eval batch "
      << r["eval_batch_size"].get<int64_t>() << "\n";
  if (r.contains("weights")) out << "weights: " << r["weights"].get<std::string>() << "\n";
  if (r.contains("train_throughput")) {
    out << "phases synchronised per phase (each waits for the GPU); training images/s from "
        << r["train_throughput"]["steps"].get<int64_t>()
        << " more consecutive steps between two synchronisations\n";
  }
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

namespace {

// Median milliseconds of `iterations` calls of `run` after `warmup` untimed ones.
template <typename Run>
double median_ms(int64_t warmup, int64_t iterations, Run&& run) {
  for (int64_t i = 0; i < warmup; ++i) run();
  std::vector<double> ms;
  for (int64_t i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    run();
    ms.push_back(ms_between(start, Clock::now()));
  }
  return PhaseStats::of(ms).median_ms;
}

// Each path this build and CPU have, as bench --layers times it: per layer (`layer`: ours on
// every layer it can run, whatever winograd_pays says) and as a stack (`stack`: each path's own
// choice per layer).
struct TimedPath {
  std::shared_ptr<BackbonePath> layer, stack;
};

std::vector<TimedPath> timed_paths() {
  auto direct = std::make_shared<DirectBackbone>();
  std::vector<TimedPath> paths = {{direct, direct}};
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!our_winograd_available(isa)) continue;
    paths.push_back({std::make_shared<WinogradBackbone>(isa, /*every_layer=*/true),
                     std::make_shared<WinogradBackbone>(isa)});
  }
  if (onednn_winograd_available()) {
    auto onednn = std::make_shared<OnednnBackbone>(/*winograd=*/true);
    paths.push_back({onednn, onednn});
  }
  return paths;
}

// One row of bench --layers: layer i (its input x) through each path.
nlohmann::json layer_row(const BenchOptions& options, const std::vector<TimedPath>& paths,
                         const std::vector<BackboneLayer>& layers, size_t i,
                         const torch::Tensor& x) {
  const auto& conv = vgg16_convs()[i];
  const std::vector<BackboneLayer> one = {layers[i]};
  nlohmann::json row = {{"name", conv.name},  {"in", conv.in},
                        {"out", conv.out},    {"height", x.size(2)},
                        {"width", x.size(3)}, {"pool", layers[i].pool_after}};
  for (const auto& path : paths) {
    const std::string name = path.layer->name();
    row[name + "_ms"] =
        median_ms(options.warmup, options.iterations, [&] { path.layer->forward(x, one); });
    row[name + "_algorithm"] = path.layer->last_algorithms().at(0);
  }
  return row;
}

// What every bench --layers report starts with: what it timed, on which config, machine and
// libtorch, how often.
nlohmann::json layer_report_header(const std::string& what, const BenchOptions& options,
                                   const ExperimentConfig& config, int64_t batch, int64_t threads) {
  const char* cap = std::getenv(kMaxCpuIsaVariable);
  return {{"tool", "cifar-exp"},          {"what", what},       {"config", config.name},
          {"batch_size", batch},          {"threads", threads}, {"iterations", options.iterations},
          {"warmup", options.warmup},     {"cpu", cpu_model()}, {"torch_version", torch_version()},
          {"max_cpu_isa", cap ? cap : ""}};
}

// One row of bench --layers for the small CNN: convolution `layer` (with its bias, ReLU and
// pool) on input x, forward (in training mode, keeping what backward needs) and forward +
// backward, through libtorch's convolution (+ our fused pool) and, where this CPU has them, ours.
nlohmann::json small_cnn_layer_row(const BenchOptions& options, SmallCnn& libtorch, SmallCnn* own,
                                   int layer, const torch::Tensor& input) {
  const auto x = input.detach().requires_grad_(layer > 0);
  // A copy: named_parameters() returns a temporary dict.
  const torch::Tensor weight =
      libtorch->named_parameters()["conv" + std::to_string(layer + 1) + ".weight"];
  nlohmann::json row = {{"name", "conv" + std::to_string(layer + 1)},
                        {"in", weight.size(1)},
                        {"out", weight.size(0)},
                        {"height", x.size(2)},
                        {"width", x.size(3)},
                        {"pool", layer < 2},
                        {"auto", small_conv_chosen(Kernels::kAuto, layer) ? "own" : "libtorch"}};
  const auto grad = torch::randn_like(libtorch->convolve(layer, x));
  // (A plain loop variable, not a structured binding: clang 14 cannot capture those.)
  for (const auto& side :
       {std::pair<std::string, SmallCnn*>{"libtorch", &libtorch}, {"own", own}}) {
    SmallCnn* model = side.second;
    if (!model) continue;
    row[side.first + "_forward_ms"] =
        median_ms(options.warmup, options.iterations, [&] { (*model)->convolve(layer, x); });
    row[side.first + "_train_ms"] = median_ms(options.warmup, options.iterations,
                                              [&] { (*model)->convolve(layer, x).backward(grad); });
  }
  return row;
}

// bench --layers for a small-CNN config: each convolution through each path (above).
nlohmann::json run_small_cnn_layer_benchmark(const BenchOptions& options,
                                             const ExperimentConfig& config,
                                             const std::shared_ptr<spdlog::logger>& logger) {
  const int64_t threads = configure_threads(config.training.threads);
  const int64_t batch = config.training.batch_size;
  torch::manual_seed(config.training.seed);
  SmallCnn libtorch(Kernels::kFused);
  const std::string isa = small_conv_isa();
  std::optional<SmallCnn> own;
  if (!isa.empty()) {
    torch::manual_seed(config.training.seed);  // the same initial weights
    own.emplace(Kernels::kOwn);
  }
  logger->info("Timing the small CNN's 3 convolutions at batch {}, {} threads: libtorch{}", batch,
               threads, isa.empty() ? "" : ", own_" + isa);
  nlohmann::json rows = nlohmann::json::array();
  torch::Tensor x = torch::rand({batch, 3, 32, 32}).contiguous(torch::MemoryFormat::ChannelsLast);
  for (int layer = 0; layer < 3; ++layer) {
    rows.push_back(small_cnn_layer_row(options, libtorch, own ? &*own : nullptr, layer, x));
    torch::NoGradGuard no_grad;
    x = libtorch->convolve(layer, x);  // the next layer's input
  }
  auto report = layer_report_header("small_cnn_layers", options, config, batch, threads);
  report["own_isa"] = isa;
  report["layers"] = rows;
  return report;
}

std::string format_small_cnn_layer_table(const nlohmann::json& r) {
  std::ostringstream out;
  out << "cifar-exp bench --layers: " << r["config"].get<std::string>() << ", small CNN at batch "
      << r["batch_size"].get<int64_t>() << ", " << r["threads"].get<int64_t>()
      << " threads, fp32, libtorch " << r["torch_version"].get<std::string>() << ", our kernels: "
      << (r["own_isa"].get<std::string>().empty() ? "none" : r["own_isa"].get<std::string>())
      << "\nCPU: " << r["cpu"].get<std::string>() << "; medians of "
      << r["iterations"].get<int64_t>()
      << " runs, ms; forward + backward = one training step's share\n\n";
  out << std::left << std::setw(8) << "layer" << std::setw(22) << "in -> out, map" << std::right
      << std::setw(14) << "libtorch fwd" << std::setw(14) << "own fwd" << std::setw(16)
      << "libtorch f+b" << std::setw(14) << "own f+b" << std::setw(10) << "auto"
      << "\n";
  auto cell = [](const nlohmann::json& row, const std::string& key) {
    std::ostringstream c;
    if (row.contains(key))
      c << std::fixed << std::setprecision(3) << row[key].get<double>();
    else
      c << "-";
    return c.str();
  };
  for (const auto& row : r["layers"]) {
    std::ostringstream shape;
    shape << row["in"].get<int64_t>() << " -> " << row["out"].get<int64_t>() << ", "
          << row["height"].get<int64_t>() << "x" << row["width"].get<int64_t>()
          << (row["pool"].get<bool>() ? " +pool" : "");
    out << std::left << std::setw(8) << row["name"].get<std::string>() << std::setw(22)
        << shape.str() << std::right << std::setw(14) << cell(row, "libtorch_forward_ms")
        << std::setw(14) << cell(row, "own_forward_ms") << std::setw(16)
        << cell(row, "libtorch_train_ms") << std::setw(14) << cell(row, "own_train_ms")
        << std::setw(10) << row["auto"].get<std::string>() << "\n";
  }
  return out.str();
}

}  // namespace

nlohmann::json run_layer_benchmark(const BenchOptions& options,
                                   const std::shared_ptr<spdlog::logger>& logger) {
  const ExperimentConfig config = bench_config(options);
  if (config.model.type == ModelType::kSmallCnn) {
    if (config.training.precision != Precision::kFp32) {
      throw ConfigError(std::string(options.precision ? "--precision " : "training.precision ") +
                        to_string(config.training.precision) +
                        ": bench --layers times the small CNN's fp32 convolutions only");
    }
    return run_small_cnn_layer_benchmark(options, config, logger);
  }
  // The frozen backbone's paths compute in fp32 only: a bf16 request would time fp32 under
  // another name.
  if (config.training.precision != Precision::kFp32) {
    throw ConfigError(std::string(options.precision ? "--precision " : "training.precision ") +
                      to_string(config.training.precision) +
                      ": bench --layers times the backbone's fp32 convolution paths only");
  }
  const int64_t threads = configure_threads(config.training.threads);
  const int64_t batch = config.training.batch_size, side = config.model.input_size;
  torch::NoGradGuard no_grad;
  torch::manual_seed(config.training.seed);
  Vgg16Backbone backbone(Kernels::kFused, Convolution::kDirect);
  backbone->freeze(0);
  const auto layers = backbone->layers();
  const auto images = torch::rand({batch, 3, side, side}) * 255 - 120;  // caffe-scaled range

  const std::vector<TimedPath> timed = timed_paths();
  std::vector<std::string> paths;
  for (const auto& path : timed) paths.push_back(path.layer->name());
  std::string path_list;
  for (const auto& p : paths) path_list += (path_list.empty() ? "" : ", ") + p;
  logger->info("Timing VGG16's 13 layers at batch {}, {}x{}, {} threads: {}", batch, side, side,
               threads, path_list);
  nlohmann::json rows = nlohmann::json::array();
  torch::Tensor x = images.contiguous(torch::MemoryFormat::ChannelsLast);
  for (size_t i = 0; i < layers.size(); ++i) {
    rows.push_back(layer_row(options, timed, layers, i, x));
    logger->debug("{}: {}", vgg16_convs()[i].name, rows.back().dump());
    x = timed.front().layer->forward(x, {layers[i]});  // the next layer's input, direct
  }
  nlohmann::json stack = nlohmann::json::object();
  for (const auto& path : timed) {
    const std::string name = path.stack->name();
    stack[name + "_ms"] =
        median_ms(options.warmup, options.iterations, [&] { path.stack->forward(images, layers); });
    stack[name + "_algorithms"] = path.stack->last_algorithms();
  }
  // What a run with model.convolution "auto" runs (oneDNN's pipeline hands block 5 to ours).
  torch::manual_seed(config.training.seed);
  Vgg16Backbone automatic(Kernels::kFused, Convolution::kAuto);
  automatic->freeze(0);
  stack["auto_ms"] =
      median_ms(options.warmup, options.iterations, [&] { automatic->forward(images); });
  stack["auto_path"] = describe(automatic->convolution(), DescriptionFor::kBench);
  auto report = layer_report_header("layers", options, config, batch, threads);
  report["input_size"] = side;
  report["onednn"] = onednn_description();
  report["paths"] = paths;
  report["layers"] = rows;
  report["stack"] = stack;
  return report;
}

std::string format_layer_table(const nlohmann::json& r) {
  if (r["what"] == "small_cnn_layers") return format_small_cnn_layer_table(r);
  std::ostringstream out;
  out << "cifar-exp bench --layers: " << r["config"].get<std::string>() << ", VGG16 at batch "
      << r["batch_size"].get<int64_t>() << ", " << r["input_size"].get<int64_t>() << "x"
      << r["input_size"].get<int64_t>() << ", " << r["threads"].get<int64_t>()
      << " threads, fp32, libtorch " << r["torch_version"].get<std::string>() << ", "
      << r["onednn"].get<std::string>() << "\nCPU: " << r["cpu"].get<std::string>()
      << "; medians of " << r["iterations"].get<int64_t>() << " runs, ms\n\n";
  const auto paths = r["paths"].get<std::vector<std::string>>();
  auto cell = [](const nlohmann::json& row, const std::string& path) {
    std::ostringstream c;
    c << std::fixed << std::setprecision(2) << row[path + "_ms"].get<double>();
    if (path != "direct" && row[path + "_algorithm"] == "direct") c << " (direct)";
    return c.str();
  };
  out << std::left << std::setw(14) << "layer" << std::setw(20) << "in -> out, map";
  for (const auto& p : paths) out << std::right << std::setw(22) << p;
  out << "\n";
  for (const auto& row : r["layers"]) {
    std::ostringstream shape;
    shape << row["in"].get<int64_t>() << " -> " << row["out"].get<int64_t>() << ", "
          << row["height"].get<int64_t>() << "x" << row["width"].get<int64_t>()
          << (row["pool"].get<bool>() ? " +pool" : "");
    out << std::left << std::setw(14) << row["name"].get<std::string>() << std::setw(20)
        << shape.str();
    for (const auto& p : paths) out << std::right << std::setw(22) << cell(row, p);
    out << "\n";
  }
  out << std::left << std::setw(34) << "all 13 (each path's own choice)";
  for (const auto& p : paths) {
    std::ostringstream c;
    c << std::fixed << std::setprecision(2) << r["stack"][p + "_ms"].get<double>();
    out << std::right << std::setw(22) << c.str();
  }
  out << "\n\nmodel.convolution \"auto\" (" << r["stack"]["auto_path"].get<std::string>()
      << "): " << std::fixed << std::setprecision(2) << r["stack"]["auto_ms"].get<double>()
      << " ms\n";
  return out.str();
}

}  // namespace cifar_exp
