// End-to-end tests of the cifar-exp binary.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cifar_exp/data/data.h"
#include "cifar_exp/experiment/benchmark.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/images.h"
#include "cifar_exp/models/kernels/small_conv.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/models/weights.h"
#include "cifar_exp/records/run_summary.h"
#include "cifar_exp/training/checkpoint.h"
#include "test_paths.h"
#include "test_support.h"
#include "weight_files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::KerasH5Layout;
using testing::run_cli;
using testing::write_vgg16_keras_h5;
using testing::write_vgg16_torchvision;

using testing::expect_one_line_error;
using testing::run_folders;
using testing::snapshot;

TEST(Cli, VersionAndHelp) {
  auto version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("libtorch "), std::string::npos);
  EXPECT_NE(version.out.find("CUDA runtime: "), std::string::npos);
  EXPECT_NE(version.out.find("cuDNN: "), std::string::npos);
  EXPECT_NE(version.out.find("CPU: "), std::string::npos);
  // One entry per GPU this libtorch sees, or "none".
  const auto gpus = version.out.find("GPUs: ");
  ASSERT_NE(gpus, std::string::npos);
  if (torch::cuda::device_count() == 0) {
    EXPECT_EQ(version.out.substr(gpus, 10), "GPUs: none");
  } else {
    EXPECT_NE(version.out.find("cuda:0 ", gpus), std::string::npos) << version.out;
  }
  auto help = run_cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--train-limit"), std::string::npos);
}

// The e2e run's class names and confusion matrix: 10 x 10, its test images, its accuracy.
void expect_confusion_matrix(const json& summary, double accuracy) {
  ASSERT_EQ(summary["class_names"].size(), 10u);
  EXPECT_EQ(summary["class_names"][0], "airplane");
  ASSERT_EQ(summary["confusion_matrix"].size(), 10u);
  int64_t total = 0, diagonal = 0;
  for (int r = 0; r < 10; ++r) {
    ASSERT_EQ(summary["confusion_matrix"][r].size(), 10u);
    for (int c = 0; c < 10; ++c) total += summary["confusion_matrix"][r][c].get<int64_t>();
    diagonal += summary["confusion_matrix"][r][r].get<int64_t>();
  }
  EXPECT_EQ(total, 500);
  EXPECT_NEAR(double(diagonal) / 500.0, accuracy, 1e-12);
  EXPECT_EQ(summary["per_class_accuracy"].size(), 10u);
}

// The e2e run's per-epoch files.
void expect_epoch_metrics(const std::string& run, double accuracy) {
  // metrics.csv: header and one row per epoch, consistent with the summary and metrics.jsonl.
  const std::string csv = testing::read_text(run + "/metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), EpochMetrics::csv_header());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  const std::string jsonl = testing::read_text(run + "/metrics.jsonl");
  std::vector<json> rows;
  std::istringstream lines(jsonl);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["epoch"], 3);
  EXPECT_NEAR(rows[2]["val_accuracy"].get<double>(), accuracy, 1e-12);
  EXPECT_NE(csv.find("\n3,"), std::string::npos);
}

TEST(Cli, TrainsToHighAccuracyAndWritesEveryFile) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 2000, 500);
  testing::write_text(dir / "e2e.json", R"({
    "name": "e2e", "reference_accuracy": 0.5,
    "training": {"epochs": 3, "batch_size": 32, "seed": 3}
  })");
  auto r = run_cli({"--config", dir / "e2e.json", "--data-dir", dir / "data", "--output-dir",
                    dir / "runs", "--device", "cpu", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("Epoch 3/3: loss "), std::string::npos) << r.out;

  const auto runs = run_folders(dir / "runs");
  ASSERT_EQ(runs.size(), 1u);
  const std::string run = runs[0];
  EXPECT_EQ(fs::path(run).filename().string().rfind("e2e-", 0), 0u);
  EXPECT_NE(r.out.find("Run folder: " + run), std::string::npos);
  for (const char* f :
       {"config.json", "metrics.csv", "metrics.jsonl", "summary.json", "model.pt", "train.log"}) {
    EXPECT_TRUE(fs::is_regular_file(run + "/" + f)) << f;
    EXPECT_GT(fs::file_size(run + "/" + f), 0u) << f;
  }
  for (const auto& entry : fs::directory_iterator(run)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "temporary file left: " << entry.path();
  }

  const json summary = json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(summary["name"], "e2e");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["model"], "small_cnn");
  EXPECT_EQ(summary["augmentation"], false);
  EXPECT_EQ(summary["transfer"], "none");
  EXPECT_EQ(summary["epochs"], 3);
  EXPECT_EQ(summary["seed"], 3);
  EXPECT_EQ(summary["trainable_params"], 122570);
  EXPECT_EQ(summary["frozen_params"], 0);
  EXPECT_EQ(summary["device"], "cpu");
  EXPECT_EQ(summary["train_images"], 2000);
  EXPECT_EQ(summary["test_images"], 500);
  EXPECT_DOUBLE_EQ(summary["reference_accuracy"].get<double>(), 0.5);
  const double accuracy = summary["test_accuracy"];
  EXPECT_GT(accuracy, 0.9);
  EXPECT_NEAR(summary["test_error"].get<double>(), 1.0 - accuracy, 1e-12);
  EXPECT_GT(summary["train_seconds"].get<double>(), 0.0);
  EXPECT_FALSE(summary["torch_version"].get<std::string>().empty());
  ASSERT_NO_FATAL_FAILURE(expect_confusion_matrix(summary, accuracy));

  ASSERT_NO_FATAL_FAILURE(expect_epoch_metrics(run, accuracy));

  // config.json is the resolved config, overrides included.
  const json config = json::parse(testing::read_text(run + "/config.json"));
  EXPECT_EQ(config["data"]["dir"], dir / "data");
  EXPECT_EQ(config["training"]["device"], "cpu");
  EXPECT_EQ(config["training"]["batch_size"], 32);
  EXPECT_EQ(config["output"]["dir"], dir / "runs");

  const std::string log = testing::read_text(run + "/train.log");
  EXPECT_NE(log.find("Epoch 1/3"), std::string::npos);
  EXPECT_NE(log.find("Test accuracy"), std::string::npos);
}

TEST(Cli, NeverReusesARunFolder) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 50, 20);
  testing::write_text(dir / "c.json", R"({"name": "same", "training": {"epochs": 1}})");
  for (int i = 0; i < 3; ++i) {
    auto r = run_cli({"--config", dir / "c.json", "--data-dir", dir / "data", "--output-dir",
                      dir / "runs", "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto runs = run_folders(dir / "runs");
  ASSERT_EQ(runs.size(), 3u);
  for (const auto& run : runs) EXPECT_TRUE(fs::exists(run + "/summary.json")) << run;
}

TEST(Cli, LimitsAndSeedOverrides) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 40);
  testing::write_text(dir / "c.json", R"({"name": "lim", "training": {"epochs": 1}})");
  auto r = run_cli({"--config", dir / "c.json", "--data-dir", dir / "data", "--output-dir",
                    dir / "runs", "--train-limit", "30", "--test-limit", "12", "--seed", "77",
                    "--batch-size", "8", "--epochs", "2", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto runs = run_folders(dir / "runs");
  ASSERT_EQ(runs.size(), 1u);
  const json summary = json::parse(testing::read_text(runs[0] + "/summary.json"));
  EXPECT_EQ(summary["train_images"], 30);
  EXPECT_EQ(summary["test_images"], 12);
  EXPECT_EQ(summary["seed"], 77);
  EXPECT_EQ(summary["epochs"], 2);
  EXPECT_EQ(summary["batch_size"], 8);
}

struct BadRun {
  std::string label;
  std::vector<std::string> extra_args;
  std::string config;  // written to c.json; empty = no --config
  int exit_code;
  std::string message_part;
};

// A copy of the generated data folder with one file changed by `edit`.
std::string damaged_copy(const testing::TempDir& dir, const std::string& name,
                         const std::string& file, const std::function<void(std::string&)>& edit) {
  fs::copy(dir / "data", dir / name, fs::copy_options::recursive);
  const std::string path = dir / name + "/" + file;
  std::string bytes = testing::read_text(path);
  edit(bytes);
  testing::write_text(path, bytes);
  return dir / name;
}

// VGG16 weights with every tensor present and shaped right, zeros; tests then break one.
Vgg16Weights zero_vgg16_weights() {
  Vgg16Weights w;
  for (const auto& conv : vgg16_convs()) {
    w[conv.name + ".weight"] = torch::zeros({conv.out, conv.in, 3, 3});
    w[conv.name + ".bias"] = torch::zeros({conv.out});
  }
  return w;
}

std::string transfer_config(const std::string& weights, const std::string& format) {
  return R"({"name": "x", "model": {"type": "vgg16_transfer", "weights": ")" + weights +
         R"(", "weights_format": ")" + format + R"("}})";
}

// The damaged inputs of BadInputsFailWithOneLineAndLeaveNothing, written into `dir`: damaged
// copies of its data folder, broken weight files and an output folder nobody may write to.
struct BadInputFiles {
  std::string truncated, label10, empty, read_only;
};
BadInputFiles write_bad_input_files(const testing::TempDir& dir) {
  testing::write_cifar10_folder(dir / "data", 50, 20);
  testing::write_text(dir / "file", "not a folder");
  BadInputFiles files;
  files.truncated = damaged_copy(dir, "truncated", "data_batch_3.bin",
                                 [](std::string& b) { b.resize(b.size() - 100); });
  files.label10 = damaged_copy(dir, "label10", "data_batch_2.bin",
                               [](std::string& b) { b[3 * kRecordBytes] = 10; });
  files.empty = damaged_copy(dir, "empty", "test_batch.bin", [](std::string& b) { b.clear(); });
  Vgg16Weights weights = zero_vgg16_weights();
  weights.erase("block5_conv3.weight");
  weights.erase("block5_conv3.bias");
  write_vgg16_keras_h5(dir / "missing_layer.h5", weights, KerasH5Layout::kLegacy2016);
  weights = zero_vgg16_weights();
  weights["block3_conv2.weight"] = torch::zeros({256, 128, 3, 3});
  write_vgg16_torchvision(dir / "misshaped.pt", weights);
  // An output folder nobody may write to: a read-only folder, or for root (which may write
  // anywhere) a place where no folder can be made.
  std::string& read_only = files.read_only;
  read_only = dir / "read_only";
  if (::geteuid() == 0) {
    read_only = "/proc/cifar-exp-test";
  } else {
    fs::create_directory(read_only);
    fs::permissions(read_only, fs::perms::owner_read | fs::perms::owner_exec);
  }
  return files;
}

// Bad command lines and configs (exit 2).
std::vector<BadRun> bad_config_cases() {
  const std::string x = R"({"name": "x"})";
  return {
      {"no config", {}, "", 2, "--config FILE is required"},
      {"unknown flag", {"--bogus"}, x, 2, "--bogus"},
      {"non-numeric epochs", {"--epochs", "ten"}, x, 2, "--epochs"},
      {"negative batch",
       {"--batch-size", "-3"},
       x,
       2,
       "--batch-size (training.batch_size): must be a positive integer, got -3"},
      {"bad device flag", {"--device", "tpu"}, x, 2, "--device (training.device)"},
      {"malformed json", {}, "{\"name\": ", 2, "c.json:1:10: invalid JSON"},
      {"unknown key", {}, R"({"name": "x", "extra": 1})", 2, "extra: unknown key"},
      {"wrong type",
       {},
       R"({"name": "x", "training": {"epochs": "ten"}})",
       2,
       "training.epochs: must be a positive integer"},
      {"out of range",
       {},
       R"({"name": "x", "augmentation": {"fill_mode": "nearest", "zoom_range": -0.5}})",
       2,
       "augmentation.zoom_range"},
  };
}

// Bad data (exit 3), weights (4) and output folders (5).
std::vector<BadRun> bad_file_cases(const testing::TempDir& dir, const BadInputFiles& files) {
  const std::string x = R"({"name": "x"})";
  const std::string& truncated = files.truncated;
  const std::string& label10 = files.label10;
  const std::string& empty = files.empty;
  const std::string& read_only = files.read_only;
  return {
      {"missing data folder",
       {"--data-dir", dir / "nowhere"},
       x,
       3,
       dir / "nowhere: CIFAR-10 data folder not found"},
      {"truncated batch file",
       {"--data-dir", truncated},
       x,
       3,
       truncated + "/data_batch_3.bin: size"},
      {"label 10",
       {"--data-dir", label10},
       x,
       3,
       label10 + "/data_batch_2.bin: record 3 has label 10"},
      {"empty file", {"--data-dir", empty}, x, 3, empty + "/test_batch.bin: file is empty"},
      {"weights missing a layer",
       {},
       transfer_config(dir / "missing_layer.h5", "keras_h5"),
       4,
       dir / "missing_layer.h5: missing tensor block5_conv3.weight (VGG16 layer block5_conv3"},
      {"mis-shaped tensor",
       {},
       transfer_config(dir / "misshaped.pt", "torchvision"),
       4,
       dir / "misshaped.pt: tensor features.12.weight (block3_conv2.weight) has shape [256, 128, "
             "3, 3], expected [256, 256, 3, 3]"},
      {"missing weights file",
       {},
       transfer_config(dir / "nowhere.h5", "keras_h5"),
       4,
       dir / "nowhere.h5"},
      {"output is a file", {"--output-dir", dir / "file/sub"}, x, 5, "cannot create output folder"},
      {"unwritable output folder", {"--output-dir", read_only}, x, 5, read_only},
  };
}

// No GPU, and values too long, not text or nested too deep (exit 2).
std::vector<BadRun> bad_value_cases() {
  const std::string x = R"({"name": "x"})";
  return {
      {"cuda without gpu", {"--device", "cuda"}, x, 2, "CUDA is not available"},
      {"a very long device",
       {"--set", "training.device=cuda:" + std::string(100000, '7')},
       x,
       2,
       "training.device"},
      {"a --set value that is not UTF-8",
       {"--set", "output.dir=runs\xff"},
       x,
       2,
       "--set output.dir: the value is not valid UTF-8 text"},
      {"a config nested 100000 deep",
       {},
       "{\"name\": \"deep\", \"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}",
       2,
       "c.json: invalid JSON: JSON nested deeper than 64 levels"},
  };
}

// The table of bad inputs: each fails with its documented exit code and a one-line message that
// names the culprit, and leaves no run folder behind.
TEST(Cli, BadInputsFailWithOneLineAndLeaveNothing) {
  testing::TempDir dir;
  const BadInputFiles files = write_bad_input_files(dir);
  const std::string& read_only = files.read_only;
  std::vector<BadRun> cases = bad_config_cases();
  for (const auto& more : {bad_file_cases(dir, files), bad_value_cases()})
    cases.insert(cases.end(), more.begin(), more.end());
  for (const auto& c : cases) {
    if (c.label == "cuda without gpu" && torch::cuda::is_available()) continue;
    std::vector<std::string> args;
    if (!c.config.empty()) {
      testing::write_text(dir / "c.json", c.config);
      args = {"--config", dir / "c.json"};
      bool has_data = false, has_output = false;
      for (const auto& a : c.extra_args) {
        has_data |= a == "--data-dir";
        has_output |= a == "--output-dir";
      }
      if (!has_data) args.insert(args.end(), {"--data-dir", dir / "data"});
      if (!has_output) args.insert(args.end(), {"--output-dir", dir / "runs"});
    }
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    expect_one_line_error(run_cli(args), c.exit_code, c.message_part, c.label);
    EXPECT_TRUE(run_folders(dir / "runs").empty()) << c.label << ": left a run folder";
    if (c.label == "unwritable output folder" && ::geteuid() != 0) {
      EXPECT_TRUE(fs::is_empty(read_only)) << c.label << ": left something";
    }
  }
}

// Trains a one-epoch small CNN (seed 1, CPU) on generated data written to `dir`/data, into
// `dir`/runs, and returns its run folder; "" (and a test failure) when training fails.
std::string train_tiny_run(const testing::TempDir& dir, int64_t n_train, int64_t n_test) {
  testing::write_cifar10_folder(dir / "data", n_train, n_test);
  testing::write_text(dir / "tiny.json", R"({"name": "tiny", "training": {"epochs": 1,
    "batch_size": 50, "seed": 1, "device": "cpu", "threads": 1}})");
  const auto trained = run_cli(
      {"--config", dir / "tiny.json", "--data-dir", dir / "data", "--output-dir", dir / "runs"});
  EXPECT_EQ(trained.exit_code, 0) << trained.err;
  const auto runs = run_folders(dir / "runs");
  return trained.exit_code == 0 && runs.size() == 1 ? runs[0] : "";
}

// Rewrites the run's summary.json through `edit`.
void edit_summary(const std::string& run, const std::function<void(json&)>& edit) {
  json summary = json::parse(testing::read_text(run + "/summary.json"));
  edit(summary);
  testing::write_text(run + "/summary.json", summary.dump(2));
}

// A run folder's copy damaged, and the command that must refuse it without changing it.
struct DamagedRunCase {
  std::string label;
  std::function<void(const std::string& run)> damage;
  std::vector<std::string> command;  // "RUN" stands for the damaged copy
  int exit_code;
  std::string message;
};

// `compare` on damaged records (exit 10).
std::vector<DamagedRunCase> damaged_compare_cases() {
  return {
      {"compare: a field of another type",
       [&](const std::string& run) { edit_summary(run, [](json& s) { s["seed"] = "one"; }); },
       {"compare", "RUN"},
       10,
       "summary.json: field \"seed\": expected an integer, found a string"},
      {"compare: summary.json is a folder",
       [](const std::string& run) {
         fs::remove(run + "/summary.json");
         fs::create_directory(run + "/summary.json");
       },
       {"compare", "RUN"},
       10,
       "summary.json: not a regular file"},
      {"compare: metrics.csv is a folder",
       [](const std::string& run) {
         fs::remove(run + "/metrics.csv");
         fs::remove(run + "/metrics.jsonl");
         fs::create_directory(run + "/metrics.csv");
       },
       {"compare", "RUN", "--runs"},
       10,
       "metrics.csv: not a regular file"},
      {"compare: failure.json of another version",
       [](const std::string& run) {
         fs::remove(run + "/summary.json");
         testing::write_text(run + "/failure.json", R"({"name": 7, "error": "x"})");
       },
       {"compare", "RUN"},
       10,
       "failure.json: field \"name\": expected a string, found a number 7"},
      {"compare: config.json's seed of another type",
       [](const std::string& run) {
         fs::remove(run + "/summary.json");
         testing::write_text(run + "/config.json",
                             R"({"name": "tiny", "training": {"seed": [1]}})");
       },
       {"compare", "RUN"},
       10,
       "config.json: training: field \"seed\": expected an integer"},
  };
}

// evaluate, predict and resume on damaged records and files; `dir` holds image.png, other.pt.
std::vector<DamagedRunCase> damaged_command_cases(const testing::TempDir& dir) {
  return {
      {"evaluate: class_names of another type",
       [&](const std::string& run) { edit_summary(run, [](json& s) { s["class_names"] = 10; }); },
       {"evaluate", "RUN"},
       5,
       "summary.json: field \"class_names\": expected a list of strings"},
      {"evaluate: model.pt without its checksum file",
       [](const std::string& run) { fs::remove(run + "/model.pt.crc32"); },
       {"evaluate", "RUN"},
       5,
       "model.pt: no checksum file"},
      {"predict: model.pt with a flipped byte",
       [](const std::string& run) {
         std::string bytes = read_file(run + "/model.pt");
         bytes[bytes.size() / 2] = char(bytes[bytes.size() / 2] ^ 0x10);
         testing::write_text(run + "/model.pt", bytes);
       },
       {"predict", "RUN", dir / "image.png"},
       5,
       "model.pt: model file is corrupted"},
      {"resume: status of another type",
       [&](const std::string& run) { edit_summary(run, [](json& s) { s["status"] = 7; }); },
       {"resume", "RUN"},
       5,
       "summary.json: field \"status\": expected a string"},
      {"resume: a missing --checkpoint",
       [&](const std::string& run) {
         edit_summary(run, [](json& s) { s["status"] = "interrupted"; });
       },
       {"resume", "RUN", "--checkpoint", dir / "nope.pt"},
       2,
       "--checkpoint: " + dir / "nope.pt" + ": no such file"},
      {"resume: the checkpoint of another model",
       [&](const std::string& run) {
         edit_summary(run, [](json& s) { s["status"] = "interrupted"; });
       },
       {"resume", "RUN", "--checkpoint", dir / "other.pt", "--data-dir", dir / "data"},
       5,
       "other.pt: checkpoint does not fit this run's model"},
  };
}

TEST(Cli, DamagedRunFilesGetOneLineErrorsAndRefusalsChangeNothing) {
  testing::TempDir dir;
  const std::string original = train_tiny_run(dir, 200, 100);
  ASSERT_FALSE(original.empty());
  // A checkpoint of another model, for `resume --checkpoint`.
  {
    DenseHead head(8, 4, 0.0);
    torch::optim::Adam optimizer(head->parameters());
    TrainingState state;
    state.cpu_rng_state = torch::zeros({1}, torch::kUInt8);
    save_checkpoint(dir / "other.pt", *head, optimizer, state);
  }
  std::vector<DamagedRunCase> cases = damaged_compare_cases();
  const std::vector<DamagedRunCase> others = damaged_command_cases(dir);
  cases.insert(cases.end(), others.begin(), others.end());
  write_png(dir / "image.png", torch::zeros({32, 32, 3}, torch::kUInt8));
  int index = 0;
  for (const DamagedRunCase& c : cases) {
    const std::string run = dir / ("case" + std::to_string(index++));
    fs::copy(original, run, fs::copy_options::recursive);
    c.damage(run);
    const auto before = snapshot(run);
    std::vector<std::string> args;
    for (const auto& a : c.command) args.push_back(a == "RUN" ? run : a);
    expect_one_line_error(run_cli(args), c.exit_code, c.message, c.label);
    EXPECT_EQ(snapshot(run), before) << c.label << ": the refused command changed the run folder";
  }
}

// One damaged run among good ones: listed as damaged with its file and field, the table of the
// others printed, exit 10 (not a failed compare that prints nothing).
TEST(Cli, CompareListsADamagedRunAndPrintsTheRest) {
  testing::TempDir dir;
  const std::string good = train_tiny_run(dir, 100, 50);
  ASSERT_FALSE(good.empty());
  const std::string damaged = dir / "runs/tiny-20200101T000000Z";
  fs::copy(good, damaged, fs::copy_options::recursive);
  json summary = json::parse(testing::read_text(damaged + "/summary.json"));
  summary["seed"] = "one";
  testing::write_text(damaged + "/summary.json", summary.dump());
  const auto table = run_cli({"compare", dir / "runs", "--format", "json"});
  expect_one_line_error(
      table, 10,
      "1 damaged run folder(s) listed but left out: " + damaged + "/summary.json: field \"seed\"",
      "damaged");
  const json rows = json::parse(table.out);
  ASSERT_EQ(rows.size(), 1u) << table.out;
  EXPECT_EQ(rows[0]["runs"], 1);
  EXPECT_EQ(rows[0]["incomplete_runs"], json::array({damaged}));
  EXPECT_NE(rows[0]["notes"].get<std::string>().find("damaged: " + damaged + "/summary.json"),
            std::string::npos)
      << rows[0];
  const auto listed = run_cli({"compare", dir / "runs", "--runs", "--format", "json"});
  EXPECT_EQ(listed.exit_code, 10);
  const json runs = json::parse(listed.out);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["status"], "damaged");
  EXPECT_EQ(runs[1]["status"], "completed");
}

TEST(Cli, PredictRefusesDamagedImagesInOneLine) {
  testing::TempDir dir;
  const std::string run = train_tiny_run(dir, 100, 50);
  ASSERT_FALSE(run.empty());
  write_png(dir / "whole.png", torch::randint(0, 256, {64, 48, 3}, torch::kUInt8));
  const std::string png = read_file(dir / "whole.png");
  testing::write_text(dir / "cut.png", png.substr(0, png.size() / 2));
  // A PNG whose header claims 100000 x 100000 pixels (the IHDR's CRC fixed up to match).
  std::string huge = png;
  for (size_t at : {size_t(16), size_t(20)}) {
    const uint32_t side = 100000;
    for (int b = 0; b < 4; ++b) huge[at + size_t(b)] = char((side >> (24 - 8 * b)) & 0xFF);
  }
  const uint32_t crc = crc32_of(huge.substr(12, 17));
  for (int b = 0; b < 4; ++b) huge[29 + size_t(b)] = char((crc >> (24 - 8 * b)) & 0xFF);
  testing::write_text(dir / "huge.png", huge);
  expect_one_line_error(run_cli({"predict", run, dir / "cut.png"}), 3,
                        dir / "cut.png" + ": cannot decode PNG: ", "truncated PNG");
  expect_one_line_error(run_cli({"predict", run, dir / "huge.png"}), 3,
                        "claims 100000 x 100000 pixels, more than the limit of 50000000",
                        "huge PNG");
  expect_one_line_error(run_cli({"predict", run, dir.path()}), 3, "not a regular file", "folder");
  const auto ok = run_cli({"predict", run, dir / "whole.png"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(ok.err.empty()) << ok.err;
}

TEST(Cli, CompareCountsARunGivenTwiceOnce) {
  testing::TempDir dir;
  const std::string run = train_tiny_run(dir, 100, 50);
  ASSERT_FALSE(run.empty());
  const auto listed =
      run_cli({"compare", dir / "runs", run, dir / "runs/", "--runs", "--format", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out).size(), 1u) << listed.out;
  const auto table = run_cli({"compare", dir / "runs", run, "--format", "json"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("\"n\": 1"), std::string::npos) << table.out;
}

TEST(Cli, EvaluationsStartedTogetherLeaveOneFileEach) {
  testing::TempDir dir;
  const std::string run = train_tiny_run(dir, 100, 50);
  ASSERT_FALSE(run.empty());
  std::vector<testing::CommandResult> results(3);
  std::vector<std::thread> commands;
  for (auto& result : results) {
    commands.emplace_back([&] { result = run_cli({"evaluate", run}); });
  }
  for (auto& c : commands) c.join();
  std::set<std::string> files;
  for (const auto& r : results) {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto at = r.out.find("written to ");
    ASSERT_NE(at, std::string::npos) << r.out;
    files.insert(r.out.substr(at, r.out.find('\n', at) - at));
  }
  EXPECT_EQ(files.size(), results.size());
  int on_disk = 0;
  for (const auto& entry : fs::directory_iterator(run)) {
    on_disk += entry.path().filename().string().rfind("evaluation-", 0) == 0;
  }
  EXPECT_EQ(on_disk, int(results.size()));
}

TEST(Cli, PreviewAugmentationWritesOriginalsBesideAugmentedVersions) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 20, 10);
  testing::write_text(dir / "aug.json", R"({
    "name": "aug", "augmentation": {"enabled": true, "rotation_range": 30, "horizontal_flip": true}
  })");
  auto r = run_cli({"preview-augmentation", "--config", dir / "aug.json", "--data-dir",
                    dir / "data", "--count", "3", "--out", dir / "grid.png"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto grid = read_image(dir / "grid.png");
  // 3 rows; the original and 5 augmented versions; tiles of 96 pixels with 4-pixel gutters.
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{3 * 100 + 4, 6 * 100 + 4, 3}));
  // The first column is the training image itself, scaled 3x.
  Cifar10 train(dir / "data", Cifar10::Mode::kTrain, 1);
  const auto original = train.images()[0].permute({1, 2, 0});  // 32 x 32 x 3
  EXPECT_TRUE(grid.narrow(0, 4, 96)
                  .narrow(1, 4, 96)
                  .index({torch::indexing::Slice(0, torch::indexing::None, 3),
                          torch::indexing::Slice(0, torch::indexing::None, 3)})
                  .equal(original));
  // The augmented tiles differ from it.
  EXPECT_FALSE(
      grid.narrow(0, 4, 96).narrow(1, 104, 96).equal(grid.narrow(0, 4, 96).narrow(1, 4, 96)));
  EXPECT_NE(r.out.find("3 images, original then 5 augmented versions per row"), std::string::npos)
      << r.out;

  auto bad = run_cli({"preview-augmentation", "--config", dir / "aug.json", "--data-dir",
                      dir / "data", "--count", "0", "--out", dir / "none.png"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--count: must be an integer from 1 to 256, got 0"), std::string::npos)
      << bad.err;
  EXPECT_FALSE(fs::exists(dir / "none.png"));
}

TEST(Bench, TableSaysHowGpuThroughputIsTimed) {
  const json phase = {
      {"mean_ms", 2.0}, {"std_ms", 0.0}, {"median_ms", 2.0}, {"min_ms", 2.0}, {"count", 4}};
  json report = {{"config", "c"},
                 {"model", "small_cnn"},
                 {"augmentation", false},
                 {"device", "cuda:0"},
                 {"threads", 1},
                 {"precision", "fp32"},
                 {"kernels", "libtorch"},
                 {"torch_version", "2.15.0"},
                 {"data", "generated"},
                 {"cpu", "X"},
                 {"batch_size", 64},
                 {"warmup", 1},
                 {"iterations", 4},
                 {"eval_batch_size", 100},
                 {"phases", {{"train_step", phase}, {"eval", phase}}},
                 {"train_images_per_second", 64000.0},
                 {"eval_images_per_second", 50000.0}};
  EXPECT_EQ(format_benchmark_table(report).find("synchronised"), std::string::npos);
  report["phase_timing"] = "synchronised per phase";
  report["train_throughput"] = {{"steps", 4}, {"total_ms", 4.0}, {"step_ms", 1.0}};
  EXPECT_NE(format_benchmark_table(report).find(
                "phases synchronised per phase (each waits for the GPU); training images/s from 4 "
                "more consecutive steps between two synchronisations"),
            std::string::npos)
      << format_benchmark_table(report);
}

TEST(Cli, BenchReportsEveryPhase) {
  testing::TempDir dir;
  testing::write_text(dir / "b.json", R"({"name": "b", "training": {"eval_batch_size": 100},
    "augmentation": {"enabled": true, "horizontal_flip": true}})");
  // No data folder: generated data, said in the report.
  auto r = run_cli({"bench", "--config", dir / "b.json", "--data-dir", dir / "none", "--iterations",
                    "6", "--warmup", "1", "--threads", "1", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);  // stdout is the JSON alone
  EXPECT_EQ(report["tool"], "cifar-exp");
  EXPECT_EQ(report["data"], "generated");
  EXPECT_EQ(report["threads"], 1);
  EXPECT_EQ(report["precision"], "fp32");
  for (const char* phase :
       {"gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step", "eval"}) {
    ASSERT_TRUE(report["phases"].contains(phase)) << phase;
    EXPECT_GT(report["phases"][phase]["mean_ms"].get<double>(), 0.0) << phase;
    EXPECT_LE(report["phases"][phase]["min_ms"].get<double>(),
              report["phases"][phase]["median_ms"].get<double>())
        << phase;
  }
  EXPECT_EQ(report["phases"]["train_step"]["count"], 6);
  EXPECT_GE(report["phases"]["train_step"]["mean_ms"].get<double>(),
            report["phases"]["forward"]["mean_ms"].get<double>());
  EXPECT_NEAR(report["train_images_per_second"].get<double>(),
              64.0 / (report["phases"]["train_step"]["mean_ms"].get<double>() / 1000.0), 1e-6);
  // On the CPU no step waits for a device: no separate throughput window.
  EXPECT_FALSE(report.contains("train_throughput"));
  EXPECT_FALSE(report.contains("phase_timing"));

  auto table =
      run_cli({"bench", "--config", dir / "b.json", "--data-dir", dir / "none", "--iterations", "2",
               "--warmup", "0", "--threads", "1", "--precision", "bf16"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("1 threads, bf16"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("train_step"), std::string::npos) << table.out;

  auto bad = run_cli({"bench", "--config", dir / "b.json", "--iterations", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--iterations: must be a positive integer, got 0"), std::string::npos)
      << bad.err;
}

// bench --layers on a small-CNN config: each convolution through libtorch's and (where this CPU
// has them) our kernels, forward and forward + backward; the bench report names the kernels.
TEST(Cli, BenchLayersTimesTheSmallCnnsConvolutions) {
  testing::TempDir dir;
  testing::write_text(dir / "s.json", R"({"name": "s", "training": {"batch_size": 8}})");
  const auto r = run_cli({"bench", "--config", dir / "s.json", "--layers", "--iterations", "2",
                          "--warmup", "0", "--threads", "1", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["what"], "small_cnn_layers");
  EXPECT_EQ(report["own_isa"], small_conv_isa());
  ASSERT_EQ(report["layers"].size(), 3u);
  const int64_t in[3] = {3, 32, 64}, side[3] = {32, 15, 6};
  for (int i = 0; i < 3; ++i) {
    const json& row = report["layers"][i];
    EXPECT_EQ(row["name"], "conv" + std::to_string(i + 1));
    EXPECT_EQ(row["in"], in[i]);
    EXPECT_EQ(row["height"], side[i]);
    EXPECT_EQ(row["pool"], i < 2);
    // Times only, not their order: at 2 runs without warm-up the first forward carries one-time
    // setup and can outlast a training step (CI saw it under load).
    EXPECT_GT(row["libtorch_forward_ms"].get<double>(), 0.0);
    EXPECT_GT(row["libtorch_train_ms"].get<double>(), 0.0);
    EXPECT_EQ(row.contains("own_train_ms"), !small_conv_isa().empty());
    EXPECT_EQ(row["auto"], small_conv_isa().empty() ? "libtorch" : "own");
  }
  const auto table = run_cli({"bench", "--config", dir / "s.json", "--layers", "--iterations", "1",
                              "--warmup", "0", "--threads", "1"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("conv2   32 -> 64, 15x15 +pool"), std::string::npos) << table.out;

  const auto bench = run_cli({"bench", "--config", dir / "s.json", "--data-dir", dir / "none",
                              "--iterations", "1", "--warmup", "0", "--threads", "1", "--set",
                              "model.kernels=fused", "--format", "json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  const json fused = json::parse(bench.out);
  EXPECT_EQ(fused["kernels"], "fused");
  EXPECT_EQ(fused["convolution"], "libtorch");
  EXPECT_EQ(fused["small_cnn_convolutions"], json({"libtorch", "libtorch", "libtorch"}));
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::istringstream in(testing::read_text(path));
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

// Starts `args` (the binary first) in a child process, stdout and stderr into files; -1 when
// fork fails.
pid_t start_cli(const std::vector<std::string>& args, const std::string& out_path,
                const std::string& err_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// The resumed run `run` (its summary `final_summary`) trained exactly as `straight_run`, which
// was never interrupted: the same epochs and the same test results.
void expect_same_training(const std::string& run, const std::string& straight_run,
                          const json& final_summary) {
  const auto a = read_jsonl(run + "/metrics.jsonl");
  const auto b = read_jsonl(straight_run + "/metrics.jsonl");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}) {
      EXPECT_EQ(a[i].at(key), b[i].at(key)) << "epoch " << i + 1 << " " << key;
    }
  }
  const json straight_summary = json::parse(testing::read_text(straight_run + "/summary.json"));
  EXPECT_EQ(final_summary["test_accuracy"], straight_summary["test_accuracy"]);
  EXPECT_EQ(final_summary["test_loss"], straight_summary["test_loss"]);
  EXPECT_EQ(final_summary["confusion_matrix"], straight_summary["confusion_matrix"]);
}

TEST(Cli, InterruptKeepsEverythingAndResumeEndsLikeAnUninterruptedRun) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 2000, 100);
  // Bit-exact comparison: pinned to the CPU (on a GPU, cuDNN autotuning and atomics differ).
  testing::write_text(dir / "long.json", R"({"name": "long", "training": {"epochs": 8,
    "batch_size": 32, "threads": 1, "device": "cpu"}, "augmentation": {"enabled": true, "horizontal_flip": true,
    "rotation_range": 10}})");
  const std::vector<std::string> args = {CIFAR_EXP_BINARY, "--config",   dir / "long.json",
                                         "--data-dir",     dir / "data", "--output-dir",
                                         dir / "runs"};
  const pid_t pid = start_cli(args, dir / "out", dir / "err");
  ASSERT_GE(pid, 0);
  // Wait until at least one epoch is in metrics.csv, then press Ctrl-C.
  std::string run;
  for (int i = 0; i < 1200 && run.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const auto& r : run_folders(dir / "runs")) {
      if (fs::exists(r + "/metrics.csv")) run = r;
    }
  }
  ASSERT_FALSE(run.empty()) << "no epoch finished";
  kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string err = testing::read_text(dir / "err");
  EXPECT_EQ(err.rfind("cifar-exp: error: interrupted at epoch ", 0), 0u) << err;
  EXPECT_NE(err.find("cifar-exp resume " + run), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  // What an interrupted run leaves: completed epochs, a mid-epoch checkpoint, the summary.
  const json summary = json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(summary["status"], "interrupted");
  const int64_t completed = summary["epochs_completed"];
  EXPECT_GE(completed, 1);
  EXPECT_LT(completed, 8);
  EXPECT_EQ(summary["stopped_at"]["epoch"], completed + 1);
  EXPECT_GE(summary["stopped_at"]["batch"].get<int64_t>(), 1);
  const std::string csv = testing::read_text(run + "/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), completed + 1);  // header + rows
  EXPECT_TRUE(summary.contains("test_accuracy"));
  EXPECT_TRUE(fs::exists(run + "/model.pt"));
  EXPECT_TRUE(fs::exists(run + "/checkpoint.pt"));

  // Resume to the end, then train the same config without interruption and compare.
  auto resumed = run_cli({"resume", run});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("Resuming from"), std::string::npos) << resumed.out;
  const json final_summary = json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(final_summary["status"], "completed");
  EXPECT_EQ(final_summary["epochs_completed"], 8);
  EXPECT_EQ(final_summary["resumed"], 1);
  EXPECT_EQ(final_summary["started_at"], summary["started_at"]);

  auto straight = run_cli({"--config", dir / "long.json", "--data-dir", dir / "data",
                           "--output-dir", dir / "straight"});
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const auto straight_run = run_folders(dir / "straight").at(0);
  ASSERT_NO_FATAL_FAILURE(expect_same_training(run, straight_run, final_summary));

  // A completed run is not resumed again; a folder without a checkpoint is named.
  auto again = run_cli({"resume", run});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already completed"), std::string::npos) << again.err;
  auto nowhere = run_cli({"resume", dir / "data"});
  EXPECT_EQ(nowhere.exit_code, 2);
  EXPECT_NE(nowhere.err.find(dir / "data" + ": not a run folder"), std::string::npos)
      << nowhere.err;
}

}  // namespace
}  // namespace cifar_exp

namespace cifar_exp {
namespace {

// training.validation "split": training and validation never see the test split, which is read
// once, after the last epoch. Two runs whose test files differ train identically and differ only
// in the final test figures.
TEST(Cli, HeldOutValidationReadsTheTestSplitOnlyAfterTraining) {
  testing::TempDir dir;
  const auto split = testing::write_cifar10_folder(dir / "data", 300, 100);
  fs::create_directories(dir / "data2");
  for (const auto& name : split_files(true))
    fs::copy(dir / ("data/" + name), dir / ("data2/" + name));
  fs::copy(dir / "data/batches.meta.txt", dir / "data2/batches.meta.txt");
  // Another test split: the same images with every label moved to the next class.
  const Cifar10 test(dir / "data", Cifar10::Mode::kTest);
  write_cifar10_file(dir / "data2/test_batch.bin", test.images(),
                     (test.targets() + 1).remainder(10));
  testing::write_text(dir / "v.json", R"({"name": "v", "training": {"epochs": 3,
    "batch_size": 50, "seed": 1, "device": "cpu", "threads": 1, "validation": "split",
    "validation_split": 0.2}})");
  std::vector<std::string> runs;
  for (const char* data : {"data", "data2"}) {
    const auto r = run_cli({"--config", dir / "v.json", "--data-dir", dir / data, "--output-dir",
                            dir / data + std::string("-runs")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The test split is read after the last epoch, and said so.
    const auto reading = r.out.find("Reading the test split for the final evaluation");
    ASSERT_NE(reading, std::string::npos) << r.out;
    EXPECT_GT(reading, r.out.find("Epoch 3/3")) << r.out;
    EXPECT_NE(r.out.find("240 training and 60 validation images"), std::string::npos) << r.out;
    runs.push_back(run_folders(dir / data + std::string("-runs")).at(0));
  }
  EXPECT_EQ(testing::metrics_without_times(runs[0]), testing::metrics_without_times(runs[1]));
  const auto a = json::parse(testing::read_text(runs[0] + "/summary.json"));
  const auto b = json::parse(testing::read_text(runs[1] + "/summary.json"));
  EXPECT_EQ(a["validation"], "split");
  EXPECT_EQ(a["validation_images"], 60);
  EXPECT_EQ(a["train_images"], 240);
  EXPECT_EQ(a["test_images"], 100);
  EXPECT_EQ(a["best_val_accuracy"], b["best_val_accuracy"]);
  EXPECT_NE(a["confusion_matrix"], b["confusion_matrix"]);
  EXPECT_NE(a["test_accuracy"], a["last_val_accuracy"]);
  // The data checksums are cached beside the runs, not in the current folder.
  EXPECT_TRUE(fs::is_regular_file(dir / "data-runs/.cache/data-checksums.json"));
  (void)split;
}

TEST(Cli, WithoutValidationTheLastEpochIsTheBestAndValColumnsAreEmpty) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 200, 50);
  testing::write_text(dir / "n.json", R"({"name": "n", "training": {"epochs": 2,
    "batch_size": 50, "seed": 1, "device": "cpu", "threads": 1, "validation": "none"}})");
  const auto r = run_cli(
      {"--config", dir / "n.json", "--data-dir", dir / "data", "--output-dir", dir / "runs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("val_accuracy"), std::string::npos) << r.out;
  const std::string run = run_folders(dir / "runs").at(0);
  const auto rows = EpochMetrics::from_csv(testing::read_text(run + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(std::isnan(rows[1].val_accuracy));
  const auto s = json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(s["validation"], "none");
  EXPECT_EQ(s["best_epoch"], 2);
  EXPECT_EQ(s["test_images"], 50);
  EXPECT_TRUE(s["test_accuracy"].is_number());
  EXPECT_TRUE(s["best_val_accuracy"].is_null());
  // The table has no best val accuracy for it (not a 0%), and says why.
  const auto table = run_cli({"compare", "--format", "json", dir / "runs"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const auto row = json::parse(table.out).at(0);
  EXPECT_TRUE(row["best_val_accuracy"].is_null()) << row;
  EXPECT_EQ(row["validation"], "none");
}

TEST(Cli, TrainIsTheExplicitFormOfTheDefaultCommand) {
  const std::string config = std::string(CIFAR_EXP_SOURCE_DIR) + std::string("/configs/smoke.json");
  const auto implicit = run_cli({"--config", config, "--print-config", "--epochs", "3"});
  const auto explicit_ = run_cli({"train", "--config", config, "--print-config", "--epochs", "3"});
  ASSERT_EQ(implicit.exit_code, 0) << implicit.err;
  ASSERT_EQ(explicit_.exit_code, 0) << explicit_.err;
  EXPECT_EQ(implicit.out, explicit_.out);
  const auto missing = run_cli({"train", "--epochs", "3"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--config"), std::string::npos) << missing.err;
}

// Each command's help gives one example, the defaults and the choices; options appear only on
// the commands they apply to.
TEST(Cli, HelpTextsGiveDefaultsChoicesAndAnExample) {
  const auto top = run_cli({"--help"});
  EXPECT_NE(top.out.find("train"), std::string::npos);
  EXPECT_NE(top.out.find("Example:"), std::string::npos);
  EXPECT_NE(top.out.find("default command"), std::string::npos);
  for (const char* command : {"train", "preview-augmentation", "extract-features", "bench",
                              "evaluate", "predict", "resume", "compare"}) {
    const auto help = run_cli({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.out.find("Example:\n  cifar-exp " + std::string(command)), std::string::npos)
        << help.out;
  }
  const auto evaluate = run_cli({"evaluate", "--help"});
  EXPECT_NE(evaluate.out.find("--threads"), std::string::npos) << evaluate.out;
  EXPECT_NE(evaluate.out.find("{test,train}"), std::string::npos) << evaluate.out;
  EXPECT_NE(evaluate.out.find("(default: test)"), std::string::npos) << evaluate.out;
  EXPECT_NE(run_cli({"predict", "--help"}).out.find("--threads"), std::string::npos);
  const auto bench = run_cli({"bench", "--help"});
  EXPECT_EQ(bench.out.find("--epochs"), std::string::npos) << bench.out;
  EXPECT_EQ(bench.out.find("--output-dir"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("--iterations"), std::string::npos) << bench.out;
}

TEST(Cli, CompareOnAFolderWithoutRunsIsAnError) {
  testing::TempDir dir;
  fs::create_directories(dir / "empty");
  expect_one_line_error(run_cli({"compare", dir / "empty"}), 2, "no run folders there",
                        "compare empty");
  // A listing of nothing is an answer (a sweep's new folder), not an error.
  const auto listing = run_cli({"compare", "--runs", "--format", "json", dir / "empty"});
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
}

TEST(Cli, EvaluateAndPredictTakeThreads) {
  testing::TempDir dir;
  const std::string run = train_tiny_run(dir, 100, 50);
  ASSERT_FALSE(run.empty());
  const auto evaluated = run_cli({"evaluate", run, "--threads", "1"});
  EXPECT_EQ(evaluated.exit_code, 0) << evaluated.err;
  expect_one_line_error(run_cli({"evaluate", run, "--threads", "-1"}), 2, "--threads",
                        "negative threads");
  testing::write_text(dir / "not-an-image.png", "x");
  const auto predicted = run_cli({"predict", run, dir / "not-an-image.png", "--threads", "1"});
  EXPECT_EQ(predicted.exit_code, 3) << predicted.err;  // the option parsed; the image did not
}

// A non-finite validation or test figure is divergence, as a non-finite training loss is: exit 6,
// one line naming the figure and the epoch, summary.json "failed" with that error, the epoch
// not recorded. SGD with momentum 0.999999 at rate 10 on one batch an epoch: the training losses
// of epochs 1-3 stay finite (2.3, 7009, ~1e17), the weights after epoch 3's step do not.
TEST(Cli, ANonFiniteValidationOrTestFigureEndsTheRunAsDiverged) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  testing::write_text(dir / "c.json", R"({"name": "nan", "training": {"epochs": 3,
    "batch_size": 100, "seed": 1, "device": "cpu", "threads": 1, "optimizer": "sgd",
    "momentum": 0.999999, "nesterov": true, "learning_rate": 10}})");
  const auto train = [&](const std::string& output, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--config",   dir / "c.json", "--data-dir",
                                     dir / "data", "--output-dir", dir / output};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const auto summary_of = [&](const std::string& output) {
    const auto runs = run_folders(dir / output);
    EXPECT_EQ(runs.size(), 1u);
    return runs.empty() ? json() : json::parse(testing::read_text(runs[0] + "/summary.json"));
  };

  // Validated on the test split each epoch: epoch 3's val_loss is NaN.
  expect_one_line_error(train("val", {}), 6, "training diverged: val_loss is nan in epoch 3",
                        "validation");
  json s = summary_of("val");
  EXPECT_EQ(s["status"], "failed");
  EXPECT_EQ(s["error"], "training diverged: val_loss is nan in epoch 3");
  EXPECT_EQ(s["epochs_completed"], 2);
  const auto rows =
      EpochMetrics::from_csv(testing::read_text(run_folders(dir / "val").at(0) + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);  // epoch 3 is not recorded
  EXPECT_TRUE(std::isfinite(rows[1].val_loss));

  // Without validation the test split is evaluated once, after epoch 3: its loss is NaN.
  expect_one_line_error(train("test", {"--set", "training.validation=none"}), 6,
                        "training diverged: test_loss is nan after epoch 3", "test");
  s = summary_of("test");
  EXPECT_EQ(s["status"], "failed");
  EXPECT_EQ(s["error"], "training diverged: test_loss is nan after epoch 3");
  EXPECT_EQ(s["epochs_completed"], 3);
  EXPECT_TRUE(!s.contains("test_accuracy") || s["test_accuracy"].is_null()) << s;
}

// onecycle over too few steps for its rising phase (PyTorch's OneCycleLR divides by zero): a
// config error naming training.lr_pct_start, once the steps are known and before any is trained.
TEST(Cli, OneCycleWithARisingPhaseOfNoStepsIsAConfigError) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  testing::write_text(dir / "c.json", R"({"name": "cycle", "training": {"epochs": 1,
    "batch_size": 50, "seed": 1, "device": "cpu", "threads": 1, "lr_schedule": "onecycle"}})");
  const auto args = [&](const std::string& output, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"--config",   dir / "c.json", "--data-dir",
                                  dir / "data", "--output-dir", dir / output};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  // 2 steps: 0.3 x 2 - 1 = -0.4.
  expect_one_line_error(run_cli(args("runs", {})), 2,
                        "training.lr_pct_start: onecycle over 2 steps (1 epoch(s) of 2 batches) "
                        "with lr_pct_start 0.3 rises for -0.4 steps and falls for 1.4",
                        "onecycle");
  const auto runs = run_folders(dir / "runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_FALSE(fs::exists(runs[0] + "/metrics.csv"));  // no epoch trained
  EXPECT_EQ(json::parse(testing::read_text(runs[0] + "/summary.json"))["status"], "failed");
  // 10 steps at 0.1: 0.1 x 10 - 1 = 0, the 0 / 0 of PyTorch's first step.
  expect_one_line_error(
      run_cli(args("ten", {"--batch-size", "10", "--set", "training.lr_pct_start=0.1"})), 2,
      "training.lr_pct_start: onecycle over 10 steps (1 epoch(s) of 10 batches) "
      "with lr_pct_start 0.1 rises for 0 steps and falls for 9",
      "onecycle at 10 steps");
  // Three epochs of 2 give 6 steps, a rise of 0.8: trains.
  const auto longer = run_cli(args("longer", {"--epochs", "3"}));
  EXPECT_EQ(longer.exit_code, 0) << longer.err;
}

TEST(Cli, MissingDataNamesADownloadScriptThatExists) {
  testing::TempDir dir;
  const auto r =
      run_cli({"--config", std::string(CIFAR_EXP_SOURCE_DIR) + std::string("/configs/smoke.json"),
               "--data-dir", dir / "nowhere", "--output-dir", dir / "runs"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const std::string marker = "get CIFAR-10 with: ";
  const auto at = r.err.find(marker);
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string script =
      r.err.substr(at + marker.size(), r.err.find(' ', at + marker.size()) - at - marker.size());
  EXPECT_TRUE(fs::is_regular_file(script)) << script;
}

}  // namespace
}  // namespace cifar_exp
