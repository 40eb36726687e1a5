// The `bench` command, in the spirit of `caffe time`: times every phase of a training step
// (batch gather and conversion, augmentation, forward, backward, optimizer step, metrics) and
// evaluation for one config, after warm-up, and reports mean and spread per phase plus images per
// second. bench/torch_reference.py reports the same figures for PyTorch driven from Python.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

struct BenchOptions {
  std::string config_path;
  ConfigOverrides overrides;
  int64_t iterations = 50;               // timed training steps (evaluation: a tenth, at least 2)
  int64_t warmup = 5;                    // untimed steps first
  std::string format = "table";          // table | json
  std::optional<std::string> precision;  // overrides training.precision
  bool layers = false;                   // run_layer_benchmark instead
};

// Mean, spread and extremes of one phase's timings, in milliseconds.
struct PhaseStats {
  double mean_ms = 0, std_ms = 0, median_ms = 0, min_ms = 0;
  int64_t count = 0;
  static PhaseStats of(std::vector<double> milliseconds);
};

// Runs the benchmark and returns its report (the JSON shape bench/compare.sh reads: tool,
// config, model, augmentation, batch_size, eval_batch_size, threads, device, precision,
// torch_version, iterations, warmup, data, phases{name: {mean_ms, std_ms, median_ms, min_ms}},
// train_images_per_second, eval_images_per_second). Uses the real data when present, generated
// data otherwise, and a random backbone when a weights file is missing (same cost).
// On CUDA each phase waits for the GPU (phase_timing "synchronised per phase"), so training
// images/s come from `iterations` further steps timed between two synchronisations only
// (train_throughput {steps, total_ms, step_ms, timing}); on the CPU from the mean train_step.
nlohmann::json run_benchmark(const BenchOptions& options,
                             const std::shared_ptr<spdlog::logger>& logger);

// The report as an aligned text table.
std::string format_benchmark_table(const nlohmann::json& report);

// `bench --layers`: a vgg16_transfer config's frozen backbone timed layer by layer on the CPU in
// fp32 (convolution, bias, ReLU, and the pool where a block ends; no autograd), at the config's
// batch size and input size, through each path this build and CPU have: libtorch's direct
// convolution, our Winograd at AVX2 and at AVX-512 (each on every layer, whatever
// WinogradBackbone::winograd_pays says)
// and oneDNN's pipeline (Winograd where it pays, its layouts converted in and out per layer); then
// the whole stack per path as model.convolution would run it. Medians of `iterations` runs after
// `warmup`. JSON: tool, what ("layers"), config, batch_size, input_size, threads, cpu,
// torch_version, paths, layers[{name, in, out, height, width, pool, <path>_ms,
// <path>_algorithm}], stack{<path>_ms, <path>_algorithms, auto_ms, auto_path}.
nlohmann::json run_layer_benchmark(const BenchOptions& options,
                                   const std::shared_ptr<spdlog::logger>& logger);
std::string format_layer_table(const nlohmann::json& report);

}  // namespace cifar_exp
