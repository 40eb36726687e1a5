// The sweep's task runner against a stand-in for cifar-exp (a shell script that records its
// arguments and acts as told): the arguments a run gets, success, failure records, the lock
// shared with other sweeps, resume of a stopped run, and threads split between parallel runs.
#include <filesystem>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "cifar_exp/io/files.h"
#include "cifar_exp/records/run_records.h"
#include "cifar_exp/sweep/sweep_runner.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

namespace fs = std::filesystem;

// The stand-in: appends its arguments (one line, space-separated) to calls.txt; a "train" run
// writes a completed summary.json for config name "a" unless $FAKE_EXIT is set, in which case
// it writes $FAKE_ERROR to the sweep's error file and exits with $FAKE_EXIT. Its config.json is
// the fixture's resolved.json: the settings the sweep's tasks have, so that the sweep takes the
// run for the task's.
const char* const kFakeBinary = R"(#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/calls.txt"
if [[ -n "${FAKE_EXIT:-}" ]]; then
  echo "$FAKE_ERROR" > "$CIFAR_EXP_ERROR_FILE"
  exit "$FAKE_EXIT"
fi
if [[ $1 == train ]]; then
  while (($#)); do
    case $1 in --seed) seed=$2 ;; --output-dir) out=$2 ;; esac
    shift
  done
  dir=$out/a-20260101T00000${seed}Z
  mkdir -p "$dir"
  printf '{"name": "a", "status": "completed", "seed": %s, "test_accuracy": 0.25}\n' "$seed" \
    > "$dir/summary.json"
  cp "$(dirname "$0")/../resolved.json" "$dir/config.json"
fi
)";

struct Fixture {
  testing::TempDir dir;
  SweepOptions options;
  SweepRunOptions run;
  Fixture() {
    testing::write_text(dir / "a.json", R"({"name": "a"})");
    fs::create_directories(dir / "bin");
    testing::write_text(dir / "bin/cifar-exp", kFakeBinary);
    fs::permissions(dir / "bin/cifar-exp", fs::perms::owner_all);
    options.configs = {dir / "a.json"};
    options.output_dir = dir / "out";
    options.overrides.epochs = 3;
    options.overrides.set = {"data.train_limit=64"};
    run.binary = dir / "bin/cifar-exp";
    testing::write_text(dir / "resolved.json",
                        to_json(load_config(dir / "a.json", options.overrides)).dump());
  }
  std::vector<std::string> calls() {
    std::vector<std::string> lines;
    std::istringstream in(testing::read_text(dir / "bin/calls.txt"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

TEST(SweepRunner, RunsEachTaskAsItsOwnTrainProcessWithTheSweepsOptions) {
  Fixture f;
  f.options.seeds = 2;
  const auto plan = plan_sweep(f.options);
  std::ostringstream out;
  const auto report = run_sweep(plan, f.options, f.run, out);
  ASSERT_EQ(report.results.size(), 2u);
  EXPECT_EQ(report.failed(), 0);
  EXPECT_EQ(report.results[1].outcome, TaskOutcome::kDone);
  EXPECT_EQ(report.results[1].run_dir, plan.output_dir + "/a-20260101T000002Z");
  EXPECT_EQ(report.results[1].test_accuracy, 0.25);
  const auto calls = f.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], "train --config " + std::string(f.dir / "a.json") + " --output-dir " +
                          plan.output_dir + " --epochs 3 --seed 1 --set data.train_limit=64");
  EXPECT_NE(out.str().find("[2/2] a seed 2: running ... done in 0 s: test accuracy 25.00% (" +
                           plan.output_dir + "/a-20260101T000002Z)"),
            std::string::npos)
      << out.str();
  // Run again: both are complete, nothing starts.
  std::ostringstream again;
  run_sweep(plan_sweep(f.options), f.options, f.run, again);
  EXPECT_EQ(f.calls().size(), 2u);
  EXPECT_NE(again.str().find("[1/2] a seed 1: already complete ("), std::string::npos);
}

TEST(SweepRunner, AFailedRunIsRecordedForCompareAndTheSweepGoesOn) {
  Fixture f;
  f.options.seeds = 2;
  f.options.grid = {"training.batch_size=32"};
  setenv("FAKE_EXIT", "4", 1);
  setenv("FAKE_ERROR", "weights/vgg16.h5: missing weights file", 1);
  std::ostringstream out;
  const auto plan = plan_sweep(f.options);
  const auto report = run_sweep(plan, f.options, f.run, out);
  unsetenv("FAKE_EXIT");
  unsetenv("FAKE_ERROR");
  EXPECT_EQ(report.failed(), 2);
  EXPECT_EQ(f.calls().size(), 2u);  // the second ran after the first failed
  const TaskResult& result = report.results[0];
  EXPECT_EQ(exit_code_of(result), 4);
  EXPECT_EQ(result.message, "weights/vgg16.h5: missing weights file");
  EXPECT_EQ(describe(result).substr(0, 55),
            "FAILED (exit 4): weights/vgg16.h5: missing weights file");
  const std::string name = "a+training.batch_size=32";
  const auto runs = find_runs({plan.output_dir});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].dir, plan.output_dir + "/" + name + "-seed1-failed");
  EXPECT_EQ(runs[0].status, "failed");
  EXPECT_EQ(runs[0].name, name);
  EXPECT_EQ(runs[0].failure_exit_code, 4);
  EXPECT_EQ(runs[0].problem, "weights/vgg16.h5: missing weights file");
  // The failure record carries every --set of the run, so compare can describe it.
  const auto failure = nlohmann::json::parse(testing::read_text(runs[0].dir + "/failure.json"));
  EXPECT_EQ(failure["set"], (std::vector<std::string>{"data.train_limit=64", "name=" + name,
                                                      "training.batch_size=32"}));
  EXPECT_EQ(failure["log"], plan.output_dir + "/logs/" + name + "-seed1.log");
  // A later success removes the failure record.
  run_sweep(plan, f.options, f.run, out);
  EXPECT_FALSE(fs::exists(runs[0].dir));
}

TEST(SweepRunner, ARunAnotherSweepHoldsIsSkipped) {
  Fixture f;
  const auto plan = plan_sweep(f.options);
  auto lock = FileLock::try_acquire(plan.output_dir + "/.locks/a-seed1.sweep");
  ASSERT_TRUE(lock);
  const auto result = run_sweep_task(plan, f.options, 0, f.run);
  EXPECT_EQ(result.outcome, TaskOutcome::kSkipped);
  EXPECT_EQ(exit_code_of(result), 8);
  EXPECT_EQ(describe(result), "skipped: a seed 1 is being run by another sweep");
  EXPECT_FALSE(fs::exists(f.dir / "bin/calls.txt"));
  // The run's own lock (exit 8 from the run) is a skip too, not a failure.
  lock.reset();
  setenv("FAKE_EXIT", "8", 1);
  setenv("FAKE_ERROR", "a seed 1 is already running in out", 1);
  const auto busy = run_sweep_task(plan, f.options, 0, f.run);
  unsetenv("FAKE_EXIT");
  unsetenv("FAKE_ERROR");
  EXPECT_EQ(busy.outcome, TaskOutcome::kSkipped);
  EXPECT_FALSE(fs::exists(plan.output_dir + "/a-seed1-failed"));
  EXPECT_THROW(run_sweep_task(plan, f.options, 1, f.run), ConfigError);
}

TEST(SweepRunner, AStoppedRunIsResumedInItsFolder) {
  Fixture f;
  f.options.overrides.data_dir = "/data/cifar";
  const std::string stopped = f.dir / "out/a-20251231T000000Z";
  fs::create_directories(stopped);
  testing::write_text(stopped + "/summary.json",
                      R"({"name": "a", "status": "interrupted", "seed": 1})");
  testing::write_text(stopped + "/config.json", testing::read_text(f.dir / "resolved.json"));
  testing::write_text(stopped + "/checkpoint.pt", "x");
  const auto result = run_sweep_task(plan_sweep(f.options), f.options, 0, f.run);
  EXPECT_TRUE(result.resumed);
  // Only where the data is carries over (threads were not given).
  EXPECT_EQ(f.calls(), std::vector<std::string>{"resume " + stopped + " --data-dir /data/cifar"});
  EXPECT_EQ(testing::read_text(f.dir / "out/logs/a-seed1.log"), "resuming " + stopped + "\n");
}

TEST(SweepRunner, ParallelRunsSplitTheThreadsAndSpreadOverDevices) {
  Fixture f;
  f.options.seeds = 4;
  f.run.jobs = 2;
  f.run.devices = {"cuda:0", "cuda:1"};
  std::ostringstream out;
  const auto report = run_sweep(plan_sweep(f.options), f.options, f.run, out);
  EXPECT_EQ(report.failed(), 0);
  const int64_t threads = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / 2);
  const auto calls = f.calls();
  ASSERT_EQ(calls.size(), 4u);
  int on_first = 0;
  for (const auto& call : calls) {
    EXPECT_NE(call.find("--threads " + std::to_string(threads)), std::string::npos) << call;
    on_first += call.find("--device cuda:0") != std::string::npos;
  }
  EXPECT_GE(on_first, 1);
  EXPECT_LE(on_first, 3);
  EXPECT_NE(out.str().find("[1/4] a seed 1: running on cuda:0\n"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace cifar_exp
