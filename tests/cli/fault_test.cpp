// Faults of the environment, end to end through the binary: a full disk, corrupted and truncated
// checkpoints, SIGKILL at random moments, and two processes after the same run. Each ends in a
// one-line error with its exit code, or in a resumed run that equals an uninterrupted one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cifar_exp/records/run_summary.h"
#include "test_paths.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::run_cli;

using testing::run_folders;

std::vector<std::string> temporaries_in(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) {
      found.push_back(e.path().string());
    }
  }
  return found;
}

json read_json(const std::string& path) { return json::parse(testing::read_text(path)); }

// Starts cifar-exp with `args` in the background, output to files in `dir`.
pid_t spawn(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv_strings{CIFAR_EXP_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open((dir + "/spawn.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int err = open((dir + "/spawn.err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return exit_code_of(status);
}

// The exit code if `pid` has ended, without waiting.
std::optional<int> ended(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  return exit_code_of(status);
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_cifar10_folder(dir / "data", 1200, 200);
    // Bit-exact comparisons: the CPU, one thread.
    testing::write_text(dir / "run.json", R"({"name": "fault", "training": {"epochs": 6,
      "batch_size": 32, "threads": 1, "device": "cpu", "seed": 5},
      "augmentation": {"enabled": true, "horizontal_flip": true, "rotation_range": 10}})");
  }
  std::vector<std::string> train_args(const std::string& output) const {
    return {"--config",     config.empty() ? dir / "run.json" : config,
            "--data-dir",   dir / "data",
            "--output-dir", output};
  }
  // The run the tests start: run.json unless a test writes another.
  std::string config;
  // Kills a run at random moments (preferably while it writes a checkpoint) and resumes it each
  // time: it must end as an uninterrupted run does.
  // Sets resumed_run to the run it killed and resumed.
  void expect_kills_at_random_moments_change_nothing();
  std::string resumed_run;
  // An uninterrupted run to compare against.
  std::string reference_run() {
    auto r = run_cli(train_args(dir / "reference"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return run_folders(dir / "reference").at(0);
  }
  void expect_same_results(const std::string& run, const std::string& reference) {
    EXPECT_EQ(testing::metrics_without_times(run), testing::metrics_without_times(reference));
    const json a = read_json(run + "/summary.json"), b = read_json(reference + "/summary.json");
    EXPECT_EQ(a["status"], "completed");
    EXPECT_EQ(a["test_accuracy"], b["test_accuracy"]);
    EXPECT_EQ(a["test_loss"], b["test_loss"]);
    EXPECT_EQ(a["confusion_matrix"], b["confusion_matrix"]);
  }

  testing::TempDir dir;
};

TEST_F(Faults, FullDiskFailsWithOneLineAndRecordsTheFailure) {
  // Every file may hold 300 kB: summary, config and metrics fit, a checkpoint (~1.5 MB) not.
  auto r = testing::run_cli_with_file_limit(train_args(dir / "runs"), 300 * 1000);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("checkpoint.pt: cannot write file: File too large"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  const auto runs = run_folders(dir / "runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(temporaries_in(runs[0]).empty());
  EXPECT_FALSE(fs::exists(runs[0] + "/checkpoint.pt"));
  const json summary = read_json(runs[0] + "/summary.json");
  EXPECT_EQ(summary["status"], "failed");
  EXPECT_NE(summary["error"].get<std::string>().find("File too large"), std::string::npos);
}

TEST_F(Faults, ResumeRefusesACorruptedCheckpointAndOffersThePreviousOne) {
  const std::string reference = reference_run();
  ASSERT_EQ(run_cli(train_args(dir / "runs")).exit_code, 0);
  const std::string run = run_folders(dir / "runs").at(0);
  // As if the run had stopped after its last checkpoint: then checkpoint.pt is damaged.
  json summary = read_json(run + "/summary.json");
  summary["status"] = "interrupted";
  testing::write_text(run + "/summary.json", summary.dump());
  const std::string checkpoint = testing::read_text(run + "/checkpoint.pt");
  for (const std::string& damage : {"flip", "truncate"}) {
    std::string bad = checkpoint;
    if (damage == "flip") {
      for (size_t offset : {size_t(100), bad.size() / 2, bad.size() - 10}) bad[offset] ^= 0x5a;
    } else {
      bad.resize(bad.size() / 3);
    }
    testing::write_text(run + "/checkpoint.pt", bad);
    auto r = run_cli({"resume", run});
    EXPECT_EQ(r.exit_code, 5) << damage << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(run + "/checkpoint.pt: checkpoint is corrupted: " +
                         (damage == "flip" ? "checksum mismatch" : "size ")),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("the previous checkpoint is intact (epoch 6, batch 0): cifar-exp resume " +
                         run + " --checkpoint " + run + "/checkpoint.prev.pt"),
              std::string::npos)
        << r.err;
  }
  // The offered command finishes the run exactly as the uninterrupted one.
  auto resumed = run_cli({"resume", run, "--checkpoint", run + "/checkpoint.prev.pt"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_results(run, reference);
}

TEST_F(Faults, KilledAtRandomMomentsResumesToTheUninterruptedResult) {
  expect_kills_at_random_moments_change_nothing();
}

// The same with SGD, momentum and a per-batch cosine schedule after a warm-up epoch, and with a
// per-epoch reduce_on_plateau whose state comes from the epochs the checkpoint holds.
TEST_F(Faults, KilledAtRandomMomentsWithSgdAndCosineResumesExactly) {
  config = dir / "sgd.json";
  testing::write_text(config, R"({"name": "fault_sgd", "training": {"epochs": 6,
    "batch_size": 32, "threads": 1, "device": "cpu", "seed": 5, "optimizer": "sgd",
    "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 5e-4,
    "lr_schedule": "cosine", "lr_warmup_epochs": 1}})");
  expect_kills_at_random_moments_change_nothing();
}

// And with early stopping that stops before the last epoch and restores the best weights,
// whose copy the checkpoints hold: model.pt and model.best.pt come out byte for byte the same.
TEST_F(Faults, KilledAtRandomMomentsWithSgdCosineAndEarlyStoppingResumesExactly) {
  config = dir / "early.json";
  testing::write_text(config, R"({"name": "fault_early", "training": {"epochs": 9,
    "batch_size": 32, "threads": 1, "device": "cpu", "seed": 5, "optimizer": "sgd",
    "learning_rate": 0.05, "momentum": 0.9, "lr_schedule": "cosine",
    "early_stopping": {"monitor": "loss", "mode": "max", "patience": 2, "start_from_epoch": 2,
      "restore_best_weights": true}}})");
  expect_kills_at_random_moments_change_nothing();
  ASSERT_FALSE(resumed_run.empty());
  const std::string run = resumed_run, reference = run_folders(dir / "reference").at(0);
  // The training loss mostly falls, so "max" keeps an early watched epoch and stops two epochs
  // later, before the last (here: best 5, stopped after 7).
  const json summary = read_json(reference + "/summary.json");
  EXPECT_EQ(summary["stop_reason"], "early_stopping");
  EXPECT_LT(summary["epochs_completed"].get<int>(), 9);
  EXPECT_EQ(summary["best_epoch"].get<int>(), summary["epochs_completed"].get<int>() - 2);
  for (const char* file : {"/model.pt", "/model.best.pt"}) {
    EXPECT_EQ(testing::read_text(run + file), testing::read_text(reference + file)) << file;
  }
}

TEST_F(Faults, KilledAtRandomMomentsWithReduceOnPlateauResumesExactly) {
  config = dir / "plateau.json";
  testing::write_text(config, R"({"name": "fault_plateau", "training": {"epochs": 6,
    "batch_size": 32, "threads": 1, "device": "cpu", "seed": 5, "optimizer": "rmsprop",
    "lr_schedule": "reduce_on_plateau", "lr_monitor": "val_accuracy", "lr_patience": 1,
    "lr_factor": 0.5, "lr_min_delta": 0.5}})");
  expect_kills_at_random_moments_change_nothing();
  // min_delta 0.5 on an accuracy: no epoch after the first improves; patience 1: each cuts.
  const auto rows = EpochMetrics::from_csv(
      testing::read_text(run_folders(dir / "reference").at(0) + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 6u);
  const std::vector<double> expected = {1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5};
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_DOUBLE_EQ(rows[i].learning_rate, expected[i]);
}

void Faults::expect_kills_at_random_moments_change_nothing() {
  const std::string reference = reference_run();
  std::mt19937 random(std::random_device{}());
  const pid_t first = spawn(train_args(dir / "runs"), dir.path());
  // Wait for the first checkpoint (a run killed before it has nothing to resume), then kill at
  // a random moment.
  std::string run;
  for (int i = 0; i < 2000 && run.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& r : run_folders(dir / "runs")) {
      if (fs::exists(r + "/checkpoint.pt")) run = r;
    }
  }
  ASSERT_FALSE(run.empty()) << testing::read_text(dir / "spawn.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(random() % 400));
  kill(first, SIGKILL);
  EXPECT_EQ(wait_exit(first), 128 + SIGKILL);
  EXPECT_EQ(read_json(run + "/summary.json")["status"], "running");  // as a crash leaves it

  // Resume, and kill again, preferably while a checkpoint is being written (a temporary
  // checkpoint file exists), else at a random moment; then resume to the end.
  int kills = 1;
  bool finished = false;
  for (int attempt = 0; attempt < 8 && !finished; ++attempt) {
    const pid_t pid = spawn({"resume", run}, dir.path());
    if (kills >= 3) {
      ASSERT_EQ(wait_exit(pid), 0) << testing::read_text(dir / "spawn.err");
      finished = true;
      break;
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(300 + int(random() % 1500));
    bool writing = false;
    std::optional<int> code;
    while (!writing && !code && std::chrono::steady_clock::now() < deadline) {
      for (const auto& t : temporaries_in(run)) writing |= t.find("checkpoint") != t.npos;
      code = ended(pid);
      if (!writing && !code) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (code) {  // it finished before we struck
      ASSERT_EQ(*code, 0) << testing::read_text(dir / "spawn.err");
      finished = true;
      break;
    }
    kill(pid, SIGKILL);
    wait_exit(pid);
    ++kills;
  }
  ASSERT_TRUE(finished);
  EXPECT_TRUE(temporaries_in(run).empty());
  expect_same_results(run, reference);
  EXPECT_GE(read_json(run + "/summary.json")["resumed"].get<int>(), 1);
  resumed_run = run;
}

TEST_F(Faults, TheSameRunNeverRunsTwiceAtOnce) {
  testing::write_text(dir / "long.json", R"({"name": "long", "training": {"epochs": 50,
    "batch_size": 32, "threads": 1, "device": "cpu", "seed": 5}})");
  const std::vector<std::string> args = {"--config",   dir / "long.json", "--data-dir",
                                         dir / "data", "--output-dir",    dir / "runs"};
  const pid_t first = spawn(args, dir.path());
  std::string run;
  for (int i = 0; i < 2000 && run.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& r : run_folders(dir / "runs")) {
      if (fs::exists(r + "/summary.json")) run = r;
    }
  }
  ASSERT_FALSE(run.empty());
  auto second = run_cli(args);
  EXPECT_EQ(second.exit_code, 8) << second.err;
  EXPECT_NE(second.err.find("long seed 5 is already running in " + dir / "runs"), std::string::npos)
      << second.err;
  auto resume = run_cli({"resume", run});
  EXPECT_EQ(resume.exit_code, 8) << resume.err;
  EXPECT_EQ(run_folders(dir / "runs").size(), 1u);  // the second made no folder
  kill(first, SIGKILL);
  wait_exit(first);
}

}  // namespace
}  // namespace cifar_exp
