// End-to-end tests of the cifar-exp binary.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "cifar_exp/reporting.h"
#include "test_paths.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::run_cli;

std::vector<std::string> run_folders(const std::string& parent) {
  std::vector<std::string> found;
  if (!fs::exists(parent)) return found;
  for (const auto& entry : fs::directory_iterator(parent)) found.push_back(entry.path().string());
  std::sort(found.begin(), found.end());
  return found;
}

TEST(Cli, VersionAndHelp) {
  auto version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("libtorch "), std::string::npos);
  EXPECT_NE(version.out.find("CUDA available: "), std::string::npos);
  auto help = run_cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--train-limit"), std::string::npos);
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

  // metrics.csv: header and one row per epoch, consistent with the summary and metrics.jsonl.
  const std::string csv = testing::read_text(run + "/metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), MetricsWriter::csv_header());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  const std::string jsonl = testing::read_text(run + "/metrics.jsonl");
  std::vector<json> rows;
  std::istringstream lines(jsonl);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["epoch"], 3);
  EXPECT_NEAR(rows[2]["val_accuracy"].get<double>(), accuracy, 1e-12);
  EXPECT_NE(csv.find("\n3,"), std::string::npos);

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
  const char* label;
  std::vector<std::string> extra_args;
  const char* config;  // written to c.json
  int exit_code;
  const char* message_part;
};

TEST(Cli, BadInputsFailWithOneLineAndLeaveNothing) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 50, 20);
  testing::write_text(dir / "file", "not a folder");
  const std::vector<BadRun> cases = {
      {"no config", {}, nullptr, 2, "--config FILE is required"},
      {"unknown flag", {"--bogus"}, R"({"name": "x"})", 2, "--bogus"},
      {"non-numeric epochs", {"--epochs", "ten"}, R"({"name": "x"})", 2, "--epochs"},
      {"negative batch",
       {"--batch-size", "-3"},
       R"({"name": "x"})",
       2,
       "--batch-size (training.batch_size): must be a positive integer, got -3"},
      {"bad device flag", {"--device", "tpu"}, R"({"name": "x"})", 2, "--device (training.device)"},
      {"malformed json", {}, "{\"name\": ", 2, "invalid JSON"},
      {"unknown key", {}, R"({"name": "x", "extra": 1})", 2, "extra: unknown key"},
      {"missing data",
       {"--data-dir", dir / "nowhere"},
       R"({"name": "x"})",
       3,
       "CIFAR-10 data folder not found"},
      {"output is a file",
       {"--output-dir", dir / "file/sub"},
       R"({"name": "x"})",
       5,
       "cannot create output folder"},
      {"cuda without gpu", {"--device", "cuda"}, R"({"name": "x"})", 2, "CUDA is not available"},
  };
  for (const auto& c : cases) {
    if (c.label == std::string("cuda without gpu") && torch::cuda::is_available()) continue;
    std::vector<std::string> args;
    if (c.config) {
      testing::write_text(dir / "c.json", c.config);
      args = {"--config", dir / "c.json"};
      bool has_data = false;
      for (const auto& a : c.extra_args) has_data |= a == "--data-dir";
      if (!has_data) args.insert(args.end(), {"--data-dir", dir / "data"});
      args.insert(args.end(), {"--output-dir", dir / "runs"});
      for (const auto& a : c.extra_args)
        if (a == "--output-dir") args.resize(args.size() - 2);
    }
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.label << ": " << r.err;
    EXPECT_NE(r.err.find(c.message_part), std::string::npos) << c.label << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.label << ": " << r.err;
    EXPECT_EQ(r.err.rfind("cifar-exp: error: ", 0), 0u) << c.label << ": " << r.err;
    EXPECT_TRUE(run_folders(dir / "runs").empty()) << c.label << ": left a run folder";
  }
}

TEST(Cli, InterruptKeepsCompletedEpochsAndExits130) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 2000, 100);
  testing::write_text(dir / "long.json",
                      R"({"name": "long", "training": {"epochs": 500, "batch_size": 32}})");
  const std::vector<std::string> args = {CIFAR_EXP_BINARY, "--config",   dir / "long.json",
                                         "--data-dir",     dir / "data", "--output-dir",
                                         dir / "runs",     "--threads",  "1"};
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int out = open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open((dir / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Wait until at least one epoch is in metrics.csv, then press Ctrl-C.
  std::string run;
  for (int i = 0; i < 1200 && run.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  const json summary = json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(summary["status"], "interrupted");
  const int64_t completed = summary["epochs_completed"];
  EXPECT_GE(completed, 1);
  EXPECT_LT(completed, 500);
  EXPECT_EQ(summary["stopped_at"]["epoch"], completed + 1);
  const std::string csv = testing::read_text(run + "/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), completed + 1);  // header + rows
  EXPECT_TRUE(summary.contains("test_accuracy"));
  EXPECT_TRUE(fs::exists(run + "/model.pt"));
}

}  // namespace
}  // namespace cifar_exp
