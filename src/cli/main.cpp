// cifar-exp command line: each subcommand registers its options and one short function that
// calls the library (like caffe.cpp's brew functions); main parses and dispatches.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>

#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/config/config_keys.h"
#include "cifar_exp/config/defaults.h"
#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/experiment/benchmark.h"
#include "cifar_exp/experiment/experiment.h"
#include "cifar_exp/experiment/inference.h"
#include "cifar_exp/experiment/run_context.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/comparison.h"
#include "cifar_exp/records/report.h"
#include "cifar_exp/sweep/sweep.h"
#include "cifar_exp/sweep/sweep_report.h"
#include "cifar_exp/sweep/sweep_runner.h"

namespace {

using cifar_exp::ExitCode;

void print_error(const std::string& message) {
  const std::string line = cifar_exp::first_line(message);
  std::cerr << "cifar-exp: error: " << line << std::endl;
  if (const char* file = std::getenv(cifar_exp::kErrorFileVariable); file && *file) {
    std::ofstream(file, std::ios::trunc) << line << "\n";  // for the sweep that started us
  }
}

std::string version_text() {
  const auto report = cifar_exp::device_report();
  std::string text =
      std::string("cifar-exp ") + CIFAR_EXP_VERSION + "\nlibtorch " + report.libtorch +
      "\nCUDA runtime: " +
      cifar_exp::loaded_version_text(report.cuda_runtime, report.cuda_runtime_built,
                                     "none (CPU-only libtorch)") +
      "\ncuDNN: " + cifar_exp::loaded_version_text(report.cudnn, report.cudnn_built, "none") +
      "\nCPU: " + report.cpu + "\nGPUs: ";
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

// The notebook's configurations, joined by `separator`.
std::string notebook_configs(const std::string& separator) {
  std::string joined;
  for (const char* config : cifar_exp::kNotebookConfigs)
    joined += (joined.empty() ? "" : separator) + config;
  return joined;
}

const std::string kConfigHelp = "Experiment config: a JSON file, or a shipped config's name (" +
                                notebook_configs(", ") + ", smoke, ...)";
const std::string kDataDirHelp =
    std::string(
        "CIFAR-10 binary folder (default: $CIFAR10_DIR, else the config's data.dir, else ") +
    cifar_exp::kDefaultDataDir + ")";

void add_device_option(CLI::App& app, std::optional<std::string>& device, const char* fallback) {
  app.add_option("--device", device,
                 std::string("auto | cpu | cuda | cuda:N (default: ") + fallback + ")");
}

void add_threads_option(CLI::App& app, std::optional<int64_t>& threads, const char* fallback) {
  app.add_option("--threads", threads,
                 std::string("CPU threads, 0 = all cores (default: ") + fallback + ")");
}

// Adds the config overrides of the commands that read a config; `training` adds those only a
// training run uses (--output-dir, --epochs).
void add_override_options(CLI::App& app, std::string& config_path, cifar_exp::ConfigOverrides& o,
                          bool training) {
  app.add_option("-c,--config", config_path, kConfigHelp);
  app.add_option("--data-dir", o.data_dir, kDataDirHelp);
  if (training) {
    app.add_option("--output-dir", o.output_dir,
                   "Parent folder of run folders (default: the config's output.dir, runs)");
    app.add_option("--epochs", o.epochs, "Training epochs (default: the config's training.epochs)");
  }
  app.add_option("--batch-size", o.batch_size,
                 "Training batch size (default: the config's training.batch_size)");
  add_device_option(app, o.device, "the config's training.device");
  app.add_option("--seed", o.seed,
                 "Random seed for initialisation, shuffling and augmentation (default: the "
                 "config's training.seed)");
  app.add_option("--train-limit", o.train_limit,
                 "Use only the first N training records (default: the config's data.train_limit)");
  app.add_option("--test-limit", o.test_limit,
                 "Use only the first N test records (default: the config's data.test_limit)");
  add_threads_option(app, o.threads, "the config's training.threads");
  add_set_option(app, o.set);
}

// "Example:" lines at the end of a command's --help.
void add_example(CLI::App& app, const std::string& example) {
  app.footer("\nExample:\n  " + example);
}

using Logger = std::shared_ptr<spdlog::logger>;

// A subcommand, as caffe.cpp registers its brew functions: CLI11 parses into options the
// function owns, and `run` does the work through the library and returns the exit code.
struct Command {
  CLI::App* app;
  std::function<int(const Logger&)> run;
};

// Prints `text` and writes it to `out` too when given.
int print_output(const std::string& text, const std::string& out = "") {
  std::cout << text << std::flush;
  if (!out.empty()) cifar_exp::write_file_atomic(out, text);
  return 0;
}

Command preview_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::PreviewOptions>();
  auto* cmd = app.add_subcommand("preview-augmentation",
                                 "Write a PNG grid of training images beside augmented versions");
  cmd->add_option("-c,--config", o->config_path, kConfigHelp)->required();
  cmd->add_option("--out", o->out, "PNG file to write")->required();
  cmd->add_option("--count", o->count, "Training images (rows) (default: 8)");
  cmd->add_option("--data-dir", o->overrides.data_dir, kDataDirHelp);
  cmd->add_option("--seed", o->overrides.seed,
                  "Random seed of the augmentation (default: the config's training.seed)");
  add_threads_option(*cmd, o->overrides.threads, "the config's training.threads");
  add_set_option(*cmd, o->overrides.set);
  add_example(*cmd, "cifar-exp preview-augmentation --config aug_no_tl --out preview.png");
  return {cmd, [o](const Logger& logger) {
            cifar_exp::preview_augmentation(*o, logger);
            return 0;
          }};
}

Command extract_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::ExtractOptions>();
  auto* cmd = app.add_subcommand("extract-features",
                                 "Write the VGG16 backbone's flattened output for a split as .npy");
  cmd->add_option("-c,--config", o->config_path, kConfigHelp)->required();
  cmd->add_option("--split", o->split, "train | test (default: test)")
      ->check(CLI::IsMember({"train", "test"}));
  cmd->add_option("--limit", o->limit, "Only the first N records of the split (default: all)");
  cmd->add_option("--out", o->out, ".npy file to write")->required();
  cmd->add_option("--data-dir", o->overrides.data_dir, kDataDirHelp);
  add_device_option(*cmd, o->overrides.device, "the config's training.device");
  add_threads_option(*cmd, o->overrides.threads, "the config's training.threads");
  add_set_option(*cmd, o->overrides.set);
  add_example(*cmd, "cifar-exp extract-features --config no_aug_tl --split test --out test.npy");
  return {cmd, [o](const Logger& logger) {
            cifar_exp::extract_features(*o, logger);
            return 0;
          }};
}

Command bench_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench", "Time each phase of a training step and evaluation for a config (like caffe time)");
  add_override_options(*cmd, o->config_path, o->overrides, /*training=*/false);
  cmd->get_option("--config")->required();
  cmd->add_option("--iterations", o->iterations, "Timed training steps (default: 50)");
  cmd->add_option("--warmup", o->warmup, "Untimed steps first (default: 5)");
  cmd->add_option("--format", o->format, "table | json (default: table)")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("--precision", o->precision,
                  "fp32 | bf16 (default: the config's training.precision)")
      ->check(CLI::IsMember(cifar_exp::choice_names<cifar_exp::Precision>()));
  cmd->add_flag("--layers", o->layers,
                "Time the model layer by layer through each convolution path: a VGG16 "
                "config's backbone, or the small CNN's convolutions forward and backward");
  add_example(*cmd, "cifar-exp bench --config aug_tl --iterations 20 --format json");
  add_example(*cmd, "cifar-exp bench --config aug_tl --layers --iterations 20");
  return {cmd, [o](const Logger& logger) {
            // stdout carries the JSON; what the log would say is in the report (data, weights).
            if (o->format == "json") logger->set_level(spdlog::level::off);
            const auto report = o->layers ? cifar_exp::run_layer_benchmark(*o, logger)
                                          : cifar_exp::run_benchmark(*o, logger);
            if (o->format == "json") return print_output(cifar_exp::json_text(report, 2) + "\n");
            return print_output(o->layers ? cifar_exp::format_layer_table(report)
                                          : cifar_exp::format_benchmark_table(report));
          }};
}

// --which last|best: model.pt or model.best.pt (names from choices.h).
void add_which_option(CLI::App& cmd, cifar_exp::SavedModel& which) {
  using cifar_exp::SavedModel;
  cmd.add_option_function<std::string>(
         "--which",
         [&which](const std::string& name) {
           which = *cifar_exp::choice_from_name<SavedModel>(name);
         },
         "last: model.pt, the model as training left it; best: model.best.pt, the best epoch's "
         "(default: last)")
      ->check(CLI::IsMember(cifar_exp::choice_names<SavedModel>()));
}

Command evaluate_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::EvaluateOptions>();
  auto* cmd = app.add_subcommand(
      "evaluate",
      "Evaluate a finished run's model.pt (or model.best.pt) on a split (like caffe test)");
  cmd->add_option("run_dir", o->run_dir, "The run folder")->required();
  cmd->add_option("--data-dir", o->data_dir, "CIFAR-10 folder (default: the run's)");
  add_device_option(*cmd, o->device, "the run's training.device");
  add_threads_option(*cmd, o->threads, "the run's training.threads");
  cmd->add_option("--split", o->split, "test | train (default: test)")
      ->check(CLI::IsMember({"test", "train"}));
  cmd->add_option("--limit", o->limit, "Only the first N records (default: the run's own limit)");
  add_which_option(*cmd, o->which);
  add_example(*cmd, "cifar-exp evaluate runs/no_aug_no_tl-seed1-20261204T101500Z --split test");
  return {cmd, [o](const Logger& logger) {
            return print_output(cifar_exp::format_evaluation(cifar_exp::evaluate_run(*o, logger)));
          }};
}

Command predict_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::PredictOptions>();
  auto* cmd =
      app.add_subcommand("predict", "Classify PNG or JPEG images with a finished run's model");
  cmd->add_option("run_dir", o->run_dir, "The run folder")->required();
  cmd->add_option("images", o->images, "PNG or JPEG files, any size")->required();
  cmd->add_option("--top", o->top, "Classes per image (default: 3)");
  cmd->add_option("--format", o->format, "table | json (default: table)")
      ->check(CLI::IsMember({"table", "json"}));
  add_device_option(*cmd, o->device, "the run's training.device");
  add_threads_option(*cmd, o->threads, "the run's training.threads");
  add_which_option(*cmd, o->which);
  add_example(*cmd, "cifar-exp predict runs/no_aug_no_tl-seed1-20261204T101500Z cat.jpg ship.png");
  return {cmd, [o](const Logger&) { return print_output(cifar_exp::predict_images(*o)); }};
}

Command resume_command(CLI::App& app) {
  auto o = std::make_shared<cifar_exp::ResumeOptions>();
  auto* cmd = app.add_subcommand(
      "resume", "Continue an interrupted run in its folder from its checkpoint.pt");
  cmd->add_option("run_dir", o->run_dir, "The run folder")->required();
  cmd->add_option("--data-dir", o->data_dir,
                  "CIFAR-10 folder, if it has moved (default: the run's)");
  cmd->add_option("--threads", o->threads,
                  "CPU threads (default: the run's; another count breaks exactness)");
  add_device_option(*cmd, o->device, "the run's training.device");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Resume from this checkpoint instead (default: RUN_DIR/checkpoint.pt; e.g. "
                  "RUN_DIR/checkpoint.prev.pt)");
  add_example(*cmd, "cifar-exp resume runs/aug_tl-seed1-20261204T101500Z");
  return {cmd, [o](const Logger& logger) {
            const auto result = cifar_exp::resume_experiment(*o, logger);
            logger->info("Run folder: {}", result.run_dir);
            return 0;
          }};
}

struct CompareArguments {
  std::vector<std::string> paths;
  std::string format = "text", out;
  cifar_exp::CompareOptions options;
  bool list_runs = false;
};

Command compare_command(CLI::App& app) {
  auto o = std::make_shared<CompareArguments>();
  auto* cmd = app.add_subcommand(
      "compare", "Print the comparison table of run folders, grouped by config name");
  cmd->add_option("runs", o->paths, "Run folders or folders of run folders")->required();
  cmd->add_option("--format", o->format,
                  "text | markdown | csv | json (default: text, an aligned table)")
      ->check(CLI::IsMember({"text", "markdown", "csv", "json"}));
  cmd->add_option("--columns", o->options.columns,
                  "Columns of the text and markdown tables: default (the question's, about 8), "
                  "all, or a comma list of names (CSV and JSON hold them all)");
  cmd->add_option("--out", o->out, "Write the table to this file too (default: only print it)");
  cmd->add_option("--baseline", o->options.baseline,
                  "Configuration the others are compared with (difference, 95% Welch "
                  "interval, p-value; default: the sweep's first configuration)");
  cmd->add_flag("--runs", o->list_runs,
                "List each run folder with its name, seed and status (completed, "
                "running, interrupted, crashed, failed, incomplete) instead");
  add_example(*cmd, "cifar-exp compare runs/ --baseline no_aug_no_tl --format csv --out table.csv");
  return {cmd, [o](const Logger&) {
            // Damaged run folders are listed, the rest printed, and then exit 10 says so.
            if (o->list_runs) {
              const auto runs = cifar_exp::find_runs(o->paths);
              print_output(cifar_exp::format_runs(runs, o->format), o->out);
              cifar_exp::check_not_damaged(runs);
              return 0;
            }
            std::vector<cifar_exp::RunRecord> damaged;
            print_output(cifar_exp::comparison_text(o->paths, o->format, o->options, &damaged),
                         o->out);
            cifar_exp::check_not_damaged(damaged);
            return 0;
          }};
}

struct ReportArguments {
  cifar_exp::ReportOptions options;
  std::string out;
};

Command report_command(CLI::App& app) {
  auto o = std::make_shared<ReportArguments>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write one self-contained HTML page of a folder of runs: the question, the "
      "table, the plots, settings, seeds and provenance");
  cmd->add_option("runs", o->options.paths, "Run folders or folders of run folders")->required();
  cmd->add_option("--out", o->out,
                  "HTML file to write (default: FOLDER/report.html for one folder)");
  cmd->add_option("--baseline", o->options.compare.baseline,
                  "Configuration the others are compared with (as compare's)");
  cmd->add_option("--columns", o->options.compare.columns,
                  "The results table's columns, as compare's (default: default)");
  cmd->add_option("--plots", o->options.plots_dir,
                  "Folder of PNG plots to inline (default: FOLDER/plots when there)");
  add_example(*cmd, "cifar-exp report runs/sweep");
  return {cmd, [o](const Logger&) {
            const std::string html = cifar_exp::report_html(o->options);
            const std::string out =
                o->out.empty() ? cifar_exp::default_report_path(o->options.paths) : o->out;
            cifar_exp::write_file_atomic(out, html);
            std::cout << "Report: " << out << std::endl;
            return 0;
          }};
}

struct SweepArguments {
  std::string configs;
  cifar_exp::SweepOptions options;
  cifar_exp::SweepRunOptions run;
  std::string format = "json", devices;
  bool plan = false, prepare = false;
  std::optional<int64_t> task;
};

// Splits "a,b,c" (config names or paths, devices; none holds a comma).
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// A list option's items; ConfigError naming the option for an empty list or item ("", "a,,b").
std::vector<std::string> checked_list(const std::string& option, const std::string& text) {
  if (text.empty()) throw cifar_exp::ConfigError(option + ": empty list");
  if (text.front() == ',' || text.back() == ',' || text.find(",,") != std::string::npos) {
    throw cifar_exp::ConfigError(option + " " + text + ": an empty item in the list");
  }
  return comma_list(text);
}

// `cifar-exp sweep`: runs every task then compares; `--task I` runs one (a Slurm array task);
// `--plan` prints the task list for scripts.
int run_sweep_command(SweepArguments& o, bool configs_given, bool devices_given) {
  if (configs_given) o.options.configs = checked_list("--configs", o.configs);
  if (o.options.overrides.output_dir) o.options.output_dir = *o.options.overrides.output_dir;
  if (devices_given) o.run.devices = checked_list("--devices", o.devices);
  // Each device as a single run would take it, before any run or folder exists (a plan, made
  // where the runs will not run, e.g. a cluster's login node, checks the names only).
  for (const auto& device : o.run.devices) {
    try {
      if (!o.plan || !cifar_exp::is_device_spec(device)) cifar_exp::resolve_device(device);
    } catch (const cifar_exp::ConfigError& e) {
      std::string reason = e.what();
      const std::string prefix = "training.device: ";
      if (reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
      throw cifar_exp::ConfigError("--devices " + device + ": " + reason);
    }
  }
  const auto plan = cifar_exp::plan_sweep(o.options);
  if (o.plan) {
    if (o.prepare) cifar_exp::prepare_sweep_folder(plan);
    std::cerr << cifar_exp::describe_plan(plan) << std::endl;
    return print_output(o.format == "tsv"
                            ? cifar_exp::format_tsv(plan)
                            : cifar_exp::json_text(cifar_exp::to_json(plan), 2) + "\n");
  }
  if (o.task) {
    const auto result = cifar_exp::run_sweep_task(plan, o.options, *o.task, o.run);
    std::cout << cifar_exp::task_label(plan, plan.tasks[*o.task]) << ": "
              << cifar_exp::describe(result) << std::endl;
    // A failed run's own error line, where every failed command puts it.
    if (result.outcome == cifar_exp::TaskOutcome::kFailed) {
      std::cerr << "cifar-exp: error: " << cifar_exp::first_line(result.message) << std::endl;
    }
    return cifar_exp::exit_code_of(result);
  }
  cifar_exp::prepare_sweep_folder(plan);
  std::cout << cifar_exp::describe_plan(plan) << std::endl;
  const auto report = cifar_exp::run_sweep(plan, o.options, o.run, std::cout);
  if (report.interrupted()) {
    throw cifar_exp::InterruptedError(
        "sweep interrupted: the same command resumes it (completed runs are kept, stopped "
        "ones resume from their checkpoints)");
  }
  std::cout << "\nSweep took " << int64_t(report.seconds + 0.5) << " s." << std::endl;
  cifar_exp::report_sweep(plan, o.run, std::cout);
  if (report.failed() > 0) {
    throw cifar_exp::Error(cifar_exp::ExitCode::kRunsFailed,
                           std::to_string(report.failed()) + " of " +
                               std::to_string(plan.tasks.size()) +
                               " run(s) failed (each described in its "
                               "<name>-seed<S>-failed/failure.json and logs/)");
  }
  return 0;
}

Command sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepArguments>();
  auto* cmd = app.add_subcommand(
      "sweep",
      "Run configurations x grid points x seeds (each run in its own process, --jobs at once), "
      "then print the comparison; --plan lists the tasks for batch scripts, --task runs one");
  auto* configs = cmd->add_option(
      "--configs", o->configs,
      "Comma-separated configs: files or shipped names (default: " + notebook_configs(",") + ")");
  cmd->add_option("--seeds", o->options.seeds, "Seeds 1..N for each configuration (default: 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--grid", o->options.grid,
                  "Run every value of a config key (repeatable: the cross product); values are "
                  "JSON as for --set, commas inside [...] {...} \"...\" do not split")
      ->type_name("KEY=V1,V2,...")
      ->allow_extra_args(false);
  std::string unused_config;
  add_override_options(*cmd, unused_config, o->options.overrides, /*training=*/true);
  // The sweep names its configs and seeds itself (--configs, --seeds).
  cmd->remove_option(cmd->get_option("--config"));
  cmd->remove_option(cmd->get_option("--seed"));
  // The last --output-dir counts (scripts that add one to a stored command line).
  cmd->get_option("--output-dir")
      ->description("The sweep's folder (default: runs/sweep)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto* jobs =
      cmd->add_option(
             "--jobs", o->run.jobs,
             "Runs at once (default: 1; or one per --devices entry); CPU threads are split "
             "between them unless --threads is given")
          ->check(CLI::PositiveNumber);
  auto* devices =
      cmd->add_option("--devices", o->devices,
                      "Spread the runs over these devices, e.g. cuda:0,cuda:1 (the one with fewest "
                      "runs first)");
  auto* plan = cmd->add_flag("--plan", o->plan, "Print the task list instead of running it");
  cmd->add_option("--format", o->format, "--plan's format: json | tsv (default: json)")
      ->check(CLI::IsMember({"json", "tsv"}))
      ->needs(plan);
  cmd->add_flag("--prepare", o->prepare,
                "With --plan: also create the sweep's folder (and logs/) and record the sweep's "
                "order in its sweep.json, for compare")
      ->needs(plan);
  cmd->add_flag("--beside-changed", o->options.beside_changed,
                "Runs in the output folder with a task's name and seed but other settings: "
                "start new runs beside them instead of refusing (compare keeps them apart)");
  cmd->add_option("--task", o->task,
                  "Run only task I of the plan (0-based; a Slurm array task); exit status: the "
                  "run's, 8 when another process runs it")
      ->excludes(plan)
      ->check(CLI::NonNegativeNumber);
  add_example(*cmd,
              "cifar-exp sweep --configs smoke,smoke_aug --seeds 3 --grid "
              "training.batch_size=32,64 --jobs 2");
  return {cmd, [o, jobs, configs, devices](const Logger&) {
            // With --devices and no --jobs: one run per device at a time.
            if (!o->devices.empty() && jobs->count() == 0) {
              o->run.jobs = std::max<int64_t>(1, int64_t(comma_list(o->devices).size()));
            }
            return run_sweep_command(*o, configs->count() > 0, devices->count() > 0);
          }};
}

struct TrainArguments {
  std::string config_path;
  cifar_exp::ConfigOverrides overrides;
  bool show_config = false;
  bool show_keys = false;  // with show_config: every key, its default and whether it applies
};

// `cifar-exp train --config FILE`, and the default command: `cifar-exp --config FILE` with no
// subcommand takes the same options at the top level.
Command train_command(CLI::App& app) {
  auto o = std::make_shared<TrainArguments>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train one experiment from a config (the default command: `cifar-exp --config "
      "FILE` does the same)");
  for (CLI::App* parser : {&app, cmd}) {
    add_override_options(*parser, o->config_path, o->overrides, /*training=*/true);
    parser->add_flag("--print-config", o->show_config,
                     "Print the resolved config (defaults filled in, overrides applied) and exit");
    parser->add_flag("--keys", o->show_keys,
                     "With --print-config: list every config key instead (JSON: its value, "
                     "default and whether it applies)");
  }
  app.get_option("--config")->description(std::string(kConfigHelp) + "; required to train");
  cmd->get_option("--config")->required();
  add_example(*cmd,
              "cifar-exp train --config no_aug_no_tl --epochs 10 --set "
              "training.validation=split");
  return {cmd, [o](const Logger& logger) {
            if (o->show_keys && !o->show_config) {
              print_error("--keys needs --print-config (see --help)");
              return int(ExitCode::kUsage);
            }
            if (o->config_path.empty()) {
              print_error("--config FILE is required (see --help)");
              return int(ExitCode::kUsage);
            }
            if (o->show_config) {
              // What config.json would record for this config and these overrides.
              const auto config = cifar_exp::load_run_config(o->config_path, o->overrides);
              const auto printed =
                  o->show_keys ? cifar_exp::config_keys(config) : cifar_exp::to_json(config);
              return print_output(cifar_exp::json_text(printed, 2) + "\n");
            }
            const auto result = cifar_exp::run_experiment(o->config_path, o->overrides, logger);
            logger->info("Run folder: {}", result.run_dir);
            return 0;
          }};
}

int run(int argc, char** argv) {
  CLI::App app{
      "cifar-exp: reproducible CIFAR-10 experiments (small CNN, VGG16 transfer, "
      "augmentation) on CPU or CUDA through libtorch"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  add_example(app,
              "cifar-exp --config no_aug_no_tl   (training is the default command: the same as "
              "`cifar-exp train --config no_aug_no_tl`; `cifar-exp COMMAND --help` for a "
              "command's options)");
  bool show_version = false;
  app.add_flag("--version", show_version,
               "Print versions (cifar-exp, libtorch, CUDA runtime, cuDNN) and the CPU and GPUs");
  bool show_defaults = false;
  CLI::Option* defaults_flag =
      app.add_flag("--print-defaults", show_defaults,
                   "Print the defaults scripts share with cifar-exp (JSON) and exit");
  std::optional<std::string> default_name;
  app.add_option("--print-default", default_name,
                 "Print one shared default as plain text (a list one item per line) and exit")
      ->type_name("NAME")
      ->excludes(defaults_flag);
  const Command train = train_command(app);
  const std::vector<Command> subcommands = {train,
                                            preview_command(app),
                                            extract_command(app),
                                            bench_command(app),
                                            evaluate_command(app),
                                            predict_command(app),
                                            resume_command(app),
                                            compare_command(app),
                                            report_command(app),
                                            sweep_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // the help of the command asked about
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (see --help)");
    return int(ExitCode::kUsage);
  }
  if (show_version) return print_output(version_text() + "\n");
  if (show_defaults)
    return print_output(cifar_exp::json_text(cifar_exp::shared_defaults(), 2) + "\n");
  if (default_name) return print_output(cifar_exp::shared_default_text(*default_name));
  const auto logger = cifar_exp::console_logger();
  for (const Command& command : subcommands) {
    if (command.app->parsed()) return command.run(logger);
  }
  return train.run(logger);
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
