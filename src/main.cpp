// cifar-exp command line: parses arguments and dispatches; the work lives in the library.
#include <csignal>
#include <iostream>

#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "cifar_exp/benchmark.h"
#include "cifar_exp/comparison.h"
#include "cifar_exp/config.h"
#include "cifar_exp/data.h"
#include "cifar_exp/device.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/experiment.h"
#include "cifar_exp/inference.h"
#include "cifar_exp/reporting.h"

namespace {

using cifar_exp::ExitCode;

void print_error(const std::string& message) {
  std::cerr << "cifar-exp: error: " << cifar_exp::first_line(message) << std::endl;
}

std::string version_text() {
  const auto report = cifar_exp::device_report();
  std::string text =
      std::string("cifar-exp ") + CIFAR_EXP_VERSION + "\nlibtorch " + report.libtorch +
      "\nCUDA runtime: " +
      (report.cuda_runtime.empty() ? "none (CPU-only libtorch)" : report.cuda_runtime) +
      "\ncuDNN: " + (report.cudnn.empty() ? "none" : report.cudnn) + "\nCPU: " + report.cpu +
      "\nGPUs: ";
  if (report.gpus.empty()) text += "none";
  for (size_t i = 0; i < report.gpus.size(); ++i) {
    text += (i ? ", " : "") + std::string("cuda:") + std::to_string(i) + " " + report.gpus[i];
  }
  return text;
}

// --set KEY=VALUE, repeatable; one value per --set, so that a value is never taken for a command.
void add_set_option(CLI::App& app, std::vector<std::string>& set) {
  app.add_option("--set", set,
                 "Set any config key by its JSON path, e.g. --set training.learning_rate=3e-4 "
                 "(repeatable; VALUE is JSON, other text a string)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

// Adds the overrides every data-reading command accepts.
void add_override_options(CLI::App& app, std::string& config_path, cifar_exp::ConfigOverrides& o) {
  app.add_option("-c,--config", config_path, "Experiment config (JSON)");
  app.add_option("--data-dir", o.data_dir,
                 "CIFAR-10 binary folder (else $CIFAR10_DIR, data.dir, data/cifar-10-batches-bin)");
  app.add_option("--output-dir", o.output_dir, "Parent folder of run folders (default runs)");
  app.add_option("--epochs", o.epochs, "Training epochs");
  app.add_option("--batch-size", o.batch_size, "Training batch size");
  app.add_option("--device", o.device, "auto | cpu | cuda | cuda:N");
  app.add_option("--seed", o.seed, "Random seed for initialisation, shuffling and augmentation");
  app.add_option("--train-limit", o.train_limit, "Use only the first N training records");
  app.add_option("--test-limit", o.test_limit, "Use only the first N test records");
  app.add_option("--threads", o.threads, "CPU threads (0 = all cores)");
  add_set_option(app, o.set);
}

// What config.json would record for this config and these overrides.
void print_config(const std::string& config_path, const cifar_exp::ConfigOverrides& overrides) {
  auto config = cifar_exp::load_config(config_path, overrides);
  config.data.dir = cifar_exp::resolve_data_dir(overrides.data_dir, config.data.dir);
  std::cout << cifar_exp::to_json(config).dump(2) << std::endl;
}

int run(int argc, char** argv) {
  CLI::App app{
      "cifar-exp: reproducible CIFAR-10 experiments (small CNN, VGG16 transfer, "
      "augmentation) on CPU or CUDA through libtorch"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  bool show_version = false;
  app.add_flag("--version", show_version,
               "Print versions (cifar-exp, libtorch, CUDA runtime, cuDNN) and the CPU and GPUs");

  std::string config_path;
  cifar_exp::ConfigOverrides overrides;
  add_override_options(app, config_path, overrides);
  bool show_config = false;
  app.add_flag("--print-config", show_config,
               "Print the resolved config (defaults filled in, overrides applied) and exit");

  cifar_exp::PreviewOptions preview;
  auto* preview_cmd = app.add_subcommand(
      "preview-augmentation", "Write a PNG grid of training images beside augmented versions");
  preview_cmd->add_option("-c,--config", preview.config_path, "Experiment config (JSON)")
      ->required();
  preview_cmd->add_option("--out", preview.out, "PNG file to write")->required();
  preview_cmd->add_option("--count", preview.count, "Training images (rows), default 8");
  preview_cmd->add_option("--data-dir", preview.overrides.data_dir, "CIFAR-10 binary folder");
  preview_cmd->add_option("--seed", preview.overrides.seed, "Random seed");
  add_set_option(*preview_cmd, preview.overrides.set);

  cifar_exp::ExtractOptions extract;
  auto* extract_cmd = app.add_subcommand(
      "extract-features", "Write the VGG16 backbone's flattened output for a split as .npy");
  extract_cmd->add_option("-c,--config", extract.config_path, "Experiment config (JSON)")
      ->required();
  extract_cmd->add_option("--split", extract.split, "train | test (default test)");
  extract_cmd->add_option("--limit", extract.limit, "Only the first N records of the split");
  extract_cmd->add_option("--out", extract.out, ".npy file to write")->required();
  extract_cmd->add_option("--data-dir", extract.overrides.data_dir, "CIFAR-10 binary folder");
  extract_cmd->add_option("--device", extract.overrides.device, "auto | cpu | cuda | cuda:N");
  extract_cmd->add_option("--threads", extract.overrides.threads, "CPU threads (0 = all cores)");
  add_set_option(*extract_cmd, extract.overrides.set);

  cifar_exp::BenchOptions bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "Time each phase of a training step and evaluation for a config (like caffe time)");
  add_override_options(*bench_cmd, bench.config_path, bench.overrides);
  bench_cmd->get_option("--config")->required();
  bench_cmd->add_option("--iterations", bench.iterations, "Timed training steps (default 50)");
  bench_cmd->add_option("--warmup", bench.warmup, "Untimed steps first (default 5)");
  bench_cmd->add_option("--format", bench.format, "table | json (default table)")
      ->check(CLI::IsMember({"table", "json"}));
  bench_cmd->add_option("--precision", bench.precision, "fp32 | bf16 (default: the config's)");

  cifar_exp::ResumeOptions resume;
  cifar_exp::EvaluateOptions evaluate;
  auto* evaluate_cmd = app.add_subcommand(
      "evaluate", "Evaluate a finished run's model.pt on a split (like caffe test)");
  evaluate_cmd->add_option("run_dir", evaluate.run_dir, "The run folder")->required();
  evaluate_cmd->add_option("--data-dir", evaluate.data_dir, "CIFAR-10 folder (default: the run's)");
  evaluate_cmd->add_option("--device", evaluate.device, "auto | cpu | cuda | cuda:N");
  evaluate_cmd->add_option("--split", evaluate.split, "test | train (default test)");
  evaluate_cmd->add_option("--limit", evaluate.limit,
                           "Only the first N records (default: the run's own limit)");

  cifar_exp::PredictOptions predict;
  auto* predict_cmd = app.add_subcommand(
      "predict", "Classify PNG or JPEG images with a finished run's model");
  predict_cmd->add_option("run_dir", predict.run_dir, "The run folder")->required();
  predict_cmd->add_option("images", predict.images, "PNG or JPEG files, any size")->required();
  predict_cmd->add_option("--top", predict.top, "Classes per image (default 3)");
  predict_cmd->add_option("--format", predict.format, "table | json (default table)")
      ->check(CLI::IsMember({"table", "json"}));
  predict_cmd->add_option("--device", predict.device, "auto | cpu | cuda | cuda:N");

  auto* resume_cmd = app.add_subcommand(
      "resume", "Continue an interrupted run in its folder from its checkpoint.pt");
  resume_cmd->add_option("run_dir", resume.run_dir, "The run folder")->required();
  resume_cmd->add_option("--data-dir", resume.data_dir, "CIFAR-10 folder, if it has moved");
  resume_cmd->add_option("--threads", resume.threads,
                         "CPU threads (default: the run's; another count breaks exactness)");
  resume_cmd->add_option("--device", resume.device, "auto | cpu | cuda | cuda:N");
  resume_cmd->add_option("--checkpoint", resume.checkpoint,
                         "Resume from this checkpoint instead (e.g. RUN_DIR/checkpoint.prev.pt)");

  std::vector<std::string> compare_paths;
  std::string compare_format = "markdown", compare_out;
  auto* compare_cmd = app.add_subcommand(
      "compare", "Print the comparison table of run folders, grouped by config name");
  compare_cmd->add_option("runs", compare_paths, "Run folders or folders of run folders")
      ->required();
  compare_cmd->add_option("--format", compare_format, "markdown | csv | json (default markdown)")
      ->check(CLI::IsMember({"markdown", "csv", "json"}));
  compare_cmd->add_option("--out", compare_out, "Write the table to this file too");
  cifar_exp::CompareOptions compare_options;
  compare_cmd->add_option("--baseline", compare_options.baseline,
                          "Configuration the others are compared with (difference, 95% Welch "
                          "interval, p-value; default: the sweep's first configuration)");
  bool compare_list_runs = false;
  compare_cmd->add_flag("--runs", compare_list_runs,
                        "List each run folder with its name, seed and status (completed, "
                        "running, interrupted, crashed, failed, incomplete) instead");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (see --help)");
    return int(ExitCode::kUsage);
  }

  if (show_version) {
    std::cout << version_text() << std::endl;
    return 0;
  }
  auto logger = cifar_exp::console_logger();
  if (*compare_cmd && compare_list_runs) {
    const std::string list =
        cifar_exp::format_runs(cifar_exp::find_runs(compare_paths), compare_format);
    std::cout << list << std::flush;
    if (!compare_out.empty()) cifar_exp::write_file_atomic(compare_out, list);
    return 0;
  }
  if (*compare_cmd) {
    compare_options.order = cifar_exp::read_sweep_order(compare_paths);
    const auto rows = cifar_exp::compare_runs(cifar_exp::find_runs(compare_paths), compare_options);
    const std::string table = compare_format == "csv"    ? cifar_exp::format_csv(rows)
                              : compare_format == "json" ? cifar_exp::to_json(rows).dump(2) + "\n"
                                                         : cifar_exp::format_markdown(rows);
    std::cout << table << std::flush;
    if (!compare_out.empty()) cifar_exp::write_file_atomic(compare_out, table);
    return 0;
  }
  if (*bench_cmd) {
    // stdout carries the JSON; what the log would say is in the report (data, weights).
    if (bench.format == "json") logger->set_level(spdlog::level::off);
    const auto report = cifar_exp::run_benchmark(bench, logger);
    std::cout << (bench.format == "json" ? report.dump(2) + "\n"
                                         : cifar_exp::format_benchmark_table(report))
              << std::flush;
    return 0;
  }
  if (*evaluate_cmd) {
    std::cout << cifar_exp::format_evaluation(cifar_exp::evaluate_run(evaluate, logger))
              << std::flush;
    return 0;
  }
  if (*predict_cmd) {
    std::cout << cifar_exp::predict_images(predict) << std::flush;
    return 0;
  }
  if (*resume_cmd) {
    const auto result = cifar_exp::resume_experiment(resume, logger);
    logger->info("Run folder: {}", result.run_dir);
    return 0;
  }
  if (*extract_cmd) {
    cifar_exp::extract_features(extract, logger);
    return 0;
  }
  if (*preview_cmd) {
    cifar_exp::preview_augmentation(preview, logger);
    return 0;
  }
  if (config_path.empty()) {
    print_error("--config FILE is required (see --help)");
    return int(ExitCode::kUsage);
  }
  if (show_config) {
    print_config(config_path, overrides);
    return 0;
  }
  const auto result = cifar_exp::run_experiment(config_path, overrides, logger);
  logger->info("Run folder: {}", result.run_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cifar_exp::configure_allocator();
  // A file size limit (ulimit -f) then makes writes fail with EFBIG, reported like a full disk,
  // instead of killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const cifar_exp::Error& e) {
    print_error(e.what());
    return int(e.code());
  } catch (const c10::Error& e) {
    if (cifar_exp::is_out_of_memory(e)) {
      // Outside a batch (fit and evaluate name their batch size themselves).
      print_error(std::string("out of memory: ") + e.what_without_backtrace() +
                  " (lower training.batch_size or training.eval_batch_size)");
      return int(ExitCode::kOutOfMemory);
    }
    print_error(std::string("libtorch: ") + e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  } catch (...) {
    print_error("unexpected error");
    return 1;
  }
}
