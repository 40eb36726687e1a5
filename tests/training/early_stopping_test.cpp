// Early stopping and the best epoch: Keras' EarlyStopping rules on constructed metric
// sequences, which epoch is the best without it, and whole runs that stop early, restore the
// best weights and keep model.best.pt.
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/records/run_summary.h"
#include "cifar_exp/training/early_stopping.h"
#include "cifar_exp/training/monitor.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

using nlohmann::json;

struct Outcome {
  int64_t stopped_at = 0;  // the epoch after which training stops, 0: never
  int64_t best_epoch = 0;
  double best_value = 0;
  std::vector<int64_t> kept;  // epochs whose weights were kept (Verdict::best)
};

// Runs the rule over `values` (epoch 1, 2, ...) as fit() would: until it says stop.
Outcome follow(const BestCriterion& criterion, std::optional<int64_t> patience,
               const std::vector<double>& values, std::optional<double> baseline = std::nullopt) {
  EarlyStoppingRule rule(criterion, patience, baseline);
  Outcome out;
  for (size_t i = 0; i < values.size() && out.stopped_at == 0; ++i) {
    const int64_t epoch = int64_t(i) + 1;
    const auto verdict = rule.update(epoch, values[i]);
    if (verdict.best) out.kept.push_back(epoch);
    if (verdict.stop) out.stopped_at = epoch;
  }
  out.best_epoch = rule.best_epoch();
  out.best_value = rule.best_value();
  return out;
}

BestCriterion minimise(double min_delta = 0, int64_t start_from_epoch = 0) {
  return {Monitor::kValLoss, false, min_delta, start_from_epoch};
}
BestCriterion maximise(double min_delta = 0) { return {Monitor::kValAccuracy, true, min_delta, 0}; }

TEST(EarlyStoppingRule, StopsAfterPatienceEpochsWithoutImprovement) {
  // Keras: wait += 1 every epoch, reset to 0 by an improvement; stop once wait >= patience.
  const auto o = follow(minimise(), 2, {1.0, 0.9, 0.95, 0.91, 0.8, 0.85});
  EXPECT_EQ(o.stopped_at, 4);  // epochs 3 and 4 do not beat 0.9
  EXPECT_EQ(o.best_epoch, 2);
  EXPECT_DOUBLE_EQ(o.best_value, 0.9);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1, 2}));
}

TEST(EarlyStoppingRule, AnImprovementStartsTheCountAgain) {
  const auto o = follow(minimise(), 2, {1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.81, 0.9});
  EXPECT_EQ(o.stopped_at, 7);
  EXPECT_EQ(o.best_epoch, 5);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1, 3, 5}));
}

TEST(EarlyStoppingRule, PatienceZeroStopsAtTheFirstEpochThatDoesNotImproveButNeverTheFirst) {
  // Keras' default patience 0: wait 1 >= 0 on any epoch that does not improve, from the second
  // epoch on (epoch > 0 in Keras' 0-based count); a NaN first epoch does not improve either.
  EXPECT_EQ(follow(minimise(), 0, {1.0, 0.9, 0.95, 0.5}).stopped_at, 3);
  EXPECT_EQ(follow(minimise(), 1, {1.0, 0.9, 0.95, 0.5}).stopped_at, 3);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto first_nan = follow(minimise(), 0, {nan, 2.0, 3.0});
  EXPECT_EQ(first_nan.stopped_at, 3);  // epoch 1 may not stop; 2 improves on +inf; 3 does not
  // The first watched epoch's weights are kept even though it did not improve (Keras keeps
  // them in case no epoch ever does).
  EXPECT_EQ(first_nan.kept, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(first_nan.best_epoch, 2);
}

TEST(EarlyStoppingRule, MinDeltaIsTheLeastChangeThatCounts) {
  // Maximising: value - min_delta > best; minimising: value + min_delta < best.
  auto o = follow(maximise(0.01), 2, {0.5, 0.505, 0.52, 0.521, 0.525, 0.6});
  EXPECT_EQ(o.stopped_at, 5);  // 0.505 and 0.521, 0.525 are within 0.01 of the best
  EXPECT_EQ(o.best_epoch, 3);
  EXPECT_DOUBLE_EQ(o.best_value, 0.52);
  o = follow(minimise(0.1), 1, {1.0, 0.95});
  EXPECT_EQ(o.stopped_at, 2);
  o = follow(minimise(0.1), 1, {1.0, 0.85, 0.8});
  EXPECT_EQ(o.stopped_at, 3);
  EXPECT_EQ(o.best_epoch, 2);
  // An exact tie is not an improvement, with min_delta 0 too.
  EXPECT_EQ(follow(maximise(), 0, {0.5, 0.5}).stopped_at, 2);
}

TEST(EarlyStoppingRule, EpochsBeforeStartFromEpochAreNotWatched) {
  // start_from_epoch 2: epochs 1 and 2 count for nothing (their 0.1 is never the best).
  const auto o = follow(minimise(0, 2), 1, {0.1, 5.0, 4.0, 4.5, 3.0});
  EXPECT_EQ(o.stopped_at, 4);
  EXPECT_EQ(o.best_epoch, 3);
  EXPECT_DOUBLE_EQ(o.best_value, 4.0);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{3}));
}

TEST(EarlyStoppingRule, ABaselineMustBeBeatenForAnImprovementToRestartTheCount) {
  // Keras 3's on_epoch_end: wait += 1; an improvement on the best is the new best (its weights
  // kept) and ends the epoch, but resets wait only when it also improves on the baseline (by
  // more than min_delta); an epoch that does not improve stops once wait >= patience. Expected
  // values: keras 3.15.1's EarlyStopping source run on the same sequences.
  // Improving but never below 0.5: stops at the first epoch that does not improve.
  auto o = follow(minimise(), 2, {1.0, 0.9, 0.8, 0.85, 0.7}, 0.5);
  EXPECT_EQ(o.stopped_at, 4);
  EXPECT_EQ(o.best_epoch, 3);
  EXPECT_DOUBLE_EQ(o.best_value, 0.8);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(follow(minimise(), 2, {1.0, 0.9, 0.8, 0.85, 0.7}).stopped_at, 0);  // no baseline
  // Two epochs above the baseline count, so the third, not improving, stops at patience 2.
  o = follow(minimise(), 2, {0.6, 0.55, 0.58, 0.4, 0.45}, 0.5);
  EXPECT_EQ(o.stopped_at, 3);
  EXPECT_EQ(o.best_epoch, 2);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(follow(minimise(), 2, {0.6, 0.55, 0.58, 0.4, 0.45}).stopped_at, 0);
  // Once beaten, the count restarts as without a baseline.
  o = follow(minimise(), 2, {0.6, 0.4, 0.45, 0.46, 0.3}, 0.5);
  EXPECT_EQ(o.stopped_at, 4);
  EXPECT_EQ(o.best_epoch, 2);
  // Maximising: 0.6 beats 0.5 and restarts the count; patience 0 stops at the next epoch.
  o = follow(maximise(), 0, {0.3, 0.6, 0.55}, 0.5);
  EXPECT_EQ(o.stopped_at, 3);
  EXPECT_EQ(o.best_epoch, 2);
  // An epoch that improves never stops, even past patience: here epochs 2 and 3 improve.
  o = follow(maximise(), 0, {0.3, 0.4, 0.45, 0.45}, 0.5);
  EXPECT_EQ(o.stopped_at, 4);
  EXPECT_EQ(o.best_epoch, 3);
  EXPECT_DOUBLE_EQ(o.best_value, 0.45);
  // min_delta applies to the baseline too: 0.505 - 0.01 does not beat 0.5.
  o = follow(maximise(0.01), 2, {0.505, 0.506, 0.507}, 0.5);
  EXPECT_EQ(o.stopped_at, 2);
  EXPECT_EQ(o.best_epoch, 1);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1}));
  // Unwatched epochs (start_from_epoch 2) do not count towards patience.
  o = follow(minimise(0, 2), 1, {5.0, 4.0, 3.0, 2.0, 1.0, 0.9, 0.95}, 0.5);
  EXPECT_EQ(o.stopped_at, 7);
  EXPECT_EQ(o.best_epoch, 6);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{3, 4, 5, 6}));
}

TEST(EarlyStoppingRule, WithoutPatienceOnlyTheBestIsFollowed) {
  const auto o = follow(maximise(), std::nullopt, {0.3, 0.2, 0.2, 0.1, 0.35, 0.1, 0.1, 0.1});
  EXPECT_EQ(o.stopped_at, 0);
  EXPECT_EQ(o.best_epoch, 5);
  EXPECT_EQ(o.kept, (std::vector<int64_t>{1, 5}));
}

TEST(BestCriterion, FollowsEarlyStoppingElseTheHighestValidationAccuracy) {
  EXPECT_TRUE(maximizes(Monitor::kValAccuracy, MonitorMode::kAuto));
  EXPECT_TRUE(maximizes(Monitor::kTrainAccuracy, MonitorMode::kAuto));
  EXPECT_FALSE(maximizes(Monitor::kValLoss, MonitorMode::kAuto));
  EXPECT_FALSE(maximizes(Monitor::kTrainLoss, MonitorMode::kAuto));
  EXPECT_FALSE(maximizes(Monitor::kValAccuracy, MonitorMode::kMin));
  EXPECT_TRUE(maximizes(Monitor::kValLoss, MonitorMode::kMax));

  TrainingConfig c;
  auto criterion = best_criterion(c);
  ASSERT_TRUE(criterion);
  EXPECT_EQ(criterion->monitor, Monitor::kValAccuracy);
  EXPECT_TRUE(criterion->maximize);
  EXPECT_EQ(criterion->min_delta, 0);
  c.validation = Validation::kNone;
  EXPECT_FALSE(best_criterion(c));
  c.early_stopping = EarlyStoppingConfig{};
  c.early_stopping->monitor = Monitor::kTrainLoss;
  c.early_stopping->min_delta = 0.25;
  c.early_stopping->start_from_epoch = 3;
  criterion = best_criterion(c);
  ASSERT_TRUE(criterion);
  EXPECT_EQ(criterion->monitor, Monitor::kTrainLoss);
  EXPECT_FALSE(criterion->maximize);
  EXPECT_EQ(criterion->min_delta, 0.25);
  EXPECT_EQ(criterion->start_from_epoch, 3);
}

// Whole runs through the command line, on a small learnable data set.
class EarlyStoppingRuns : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_cifar10_folder(dir / "data", 512, 256); }
  // Trains `config` (a JSON text) and returns its run folder.
  std::string train(const std::string& name, const std::string& training) {
    testing::write_text(dir / (name + ".json"), R"({"name": ")" + name + R"(", "training": {
      "batch_size": 32, "threads": 1, "device": "cpu", "seed": 7, )" +
                                                    training + "}}");
    auto r = testing::run_cli({"--config", dir / (name + ".json"), "--data-dir", dir / "data",
                               "--output-dir", dir / name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return testing::run_folders(dir / name).at(0);
  }
  // metrics.jsonl's epochs, at full precision (metrics.csv rounds).
  static std::vector<EpochMetrics> epochs(const std::string& run) {
    std::vector<EpochMetrics> rows;
    std::istringstream lines(testing::read_text(run + "/metrics.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      rows.push_back(EpochMetrics::from_json(json::parse(line)));
    }
    return rows;
  }
  static json summary(const std::string& run) {
    return json::parse(testing::read_text(run + "/summary.json"));
  }
  // `evaluate --which` on the test split, as JSON.
  json evaluate(const std::string& run, const std::string& which) {
    auto r = testing::run_cli({"evaluate", run, "--which", which});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string line = "written to ";
    const auto at = r.out.find(line);
    EXPECT_NE(at, std::string::npos) << r.out;
    return json::parse(testing::read_text(
        r.out.substr(at + line.size(), r.out.find('\n', at) - at - line.size())));
  }
  testing::TempDir dir;
};

TEST_F(EarlyStoppingRuns, StopsRestoresTheBestWeightsAndSaysWhy) {
  // mode "max" on the training loss, which mostly falls: an early watched epoch stays the best
  // and, with patience 2, training stops two epochs later, well before epoch 10 (here: 5, 3).
  const std::string run = train("stops", R"("epochs": 10, "early_stopping": {"monitor": "loss",
      "mode": "max", "patience": 2, "start_from_epoch": 2, "restore_best_weights": true})");
  const json s = summary(run);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["stop_reason"], "early_stopping");
  const int64_t stopped = s["epochs_completed"], best = s["best_epoch"];
  EXPECT_LT(stopped, 10);
  EXPECT_GE(best, 3);  // epochs 1 and 2 are not watched
  EXPECT_EQ(best, stopped - 2);
  EXPECT_EQ(s["best_monitor"], "loss");
  EXPECT_EQ(s["restored_best_weights"], true);
  const auto rows = epochs(run);
  ASSERT_EQ(int64_t(rows.size()), stopped);
  const EpochMetrics& kept = rows[size_t(best - 1)];
  EXPECT_DOUBLE_EQ(s["best_value"].get<double>(), kept.train_loss);
  for (int64_t e = best + 1; e <= stopped; ++e)
    EXPECT_LE(rows[size_t(e - 1)].train_loss, kept.train_loss);
  // The model training left is the best epoch's: its test figures are that epoch's validation
  // (on the test split), and model.pt is model.best.pt.
  EXPECT_DOUBLE_EQ(s["test_accuracy"].get<double>(), kept.val_accuracy);
  EXPECT_NEAR(s["test_loss"].get<double>(), kept.val_loss, 1e-6);
  EXPECT_EQ(testing::read_text(run + "/model.pt"), testing::read_text(run + "/model.best.pt"));
  EXPECT_NE(testing::read_text(run + "/train.log")
                .find("Early stopping after epoch " + std::to_string(stopped) +
                      ": loss has not improved on"),
            std::string::npos);
}

TEST_F(EarlyStoppingRuns, ABaselineNeverBeatenStopsAtPatienceWatchedEpochs) {
  // mode "max" on the training loss, which falls: epoch 1 is the best; without a baseline its
  // improvement restarts the count and patience 2 stops after epoch 3, with a baseline it never
  // beats (100) the count runs from epoch 1 and training stops after epoch 2.
  const std::string es = R"("epochs": 6, "early_stopping": {"monitor": "loss", "mode": "max",
      "patience": 2)";
  const json without = summary(train("without", es + "}"));
  EXPECT_EQ(without["stop_reason"], "early_stopping");
  EXPECT_EQ(without["epochs_completed"], 3);
  const std::string run = train("baseline", es + R"(, "baseline": 100})");
  const json s = summary(run);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["stop_reason"], "early_stopping");
  EXPECT_EQ(s["epochs_completed"], 2);
  EXPECT_EQ(s["best_epoch"], 1);
  EXPECT_EQ(json::parse(
                testing::read_text(run + "/config.json"))["training"]["early_stopping"]["baseline"],
            100);
  EXPECT_NE(testing::read_text(run + "/train.log")
                .find("Early stopping after epoch 2: loss has not improved on the baseline 100 "
                      "(best "),
            std::string::npos)
      << testing::read_text(run + "/train.log");
}

TEST_F(EarlyStoppingRuns, WithoutEarlyStoppingTheBestIsTheHighestValidationAccuracy) {
  const std::string run = train("best", R"("epochs": 6)");
  const json s = summary(run);
  EXPECT_EQ(s["stop_reason"], "all_epochs");
  EXPECT_EQ(s["restored_best_weights"], false);
  EXPECT_EQ(s["best_monitor"], "val_accuracy");
  const auto rows = epochs(run);
  ASSERT_EQ(rows.size(), 6u);
  size_t best = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].val_accuracy > rows[best].val_accuracy) best = i;
  }
  EXPECT_EQ(s["best_epoch"], rows[best].epoch);
  ASSERT_NE(best, rows.size() - 1) << "the last epoch is the best: nothing to tell apart";
  EXPECT_DOUBLE_EQ(s["best_value"].get<double>(), rows[best].val_accuracy);
  // --which best evaluates the best epoch's weights, --which last the last epoch's.
  const json best_eval = evaluate(run, "best"), last_eval = evaluate(run, "last");
  EXPECT_EQ(best_eval["model"], "best");
  EXPECT_EQ(best_eval["model_file"], run + "/model.best.pt");
  EXPECT_DOUBLE_EQ(best_eval["accuracy"].get<double>(), rows[best].val_accuracy);
  EXPECT_NEAR(best_eval["loss"].get<double>(), rows[best].val_loss, 1e-6);
  EXPECT_DOUBLE_EQ(last_eval["accuracy"].get<double>(), rows.back().val_accuracy);
  EXPECT_DOUBLE_EQ(last_eval["accuracy"].get<double>(), s["test_accuracy"].get<double>());
}

TEST_F(EarlyStoppingRuns, ARunWithoutABestModelSaysSo) {
  const std::string run = train("none", R"("epochs": 2, "validation": "none")");
  const json s = summary(run);
  EXPECT_EQ(s["best_epoch"], 2);  // the last stands for the best
  EXPECT_TRUE(s["best_monitor"].is_null());
  EXPECT_FALSE(std::filesystem::exists(run + "/model.best.pt"));
  auto r = testing::run_cli({"evaluate", run, "--which", "best"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find(run + "/model.best.pt: no best-model file (the run had no validation"),
            std::string::npos)
      << r.err;
  r = testing::run_cli({"predict", run, "--which", "newest", "x.png"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--which: newest not in {last,best}"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cifar_exp
