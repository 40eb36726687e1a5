// Learning-rate schedules: Keras' ReduceLROnPlateau rules on constructed metric sequences, and
// the closed forms of the per-step schedules at their ends (optimizer_reference.py checks every
// step against PyTorch's schedulers).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/training/fit.h"
#include "cifar_exp/training/lr_schedule.h"

namespace cifar_exp {
namespace {

TrainingConfig plateau(Monitor monitor, int64_t patience, double factor, int64_t cooldown,
                       double min_delta, double min_lr = 0) {
  TrainingConfig c;
  c.learning_rate = 1.0;
  c.lr_schedule = LrSchedule::kReduceOnPlateau;
  c.lr_monitor = monitor;
  c.lr_patience = patience;
  c.lr_factor = factor;
  c.lr_cooldown = cooldown;
  c.lr_min_delta = min_delta;
  c.lr_min = min_lr;
  return c;
}

// The rate after each epoch of `values`, from 1.0.
std::vector<double> rates(const TrainingConfig& c, const std::vector<double>& values) {
  PlateauRule rule(c);
  std::vector<double> out;
  double rate = c.learning_rate;
  for (const double v : values) out.push_back(rate = rule.update(v, rate));
  return out;
}

TEST(PlateauRule, CutsAfterPatienceEpochsWithoutImprovement) {
  // Keras: wait counts epochs that do not improve on the best; at `patience` the rate is cut and
  // wait starts again; an improvement resets it.
  const auto c = plateau(Monitor::kValLoss, 2, 0.5, 0, 0.0);
  EXPECT_EQ(rates(c, {1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86}),
            (std::vector<double>{1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25}));
}

TEST(PlateauRule, MinDeltaDecidesWhatCountsAsBetter) {
  // A loss lower by less than min_delta is no improvement (Keras: a < best - min_delta).
  const auto c = plateau(Monitor::kValLoss, 1, 0.1, 0, 0.05);
  EXPECT_EQ(rates(c, {1.0, 0.96, 0.90}), (std::vector<double>{1, 0.1, 0.1}));
}

TEST(PlateauRule, AccuracyIsMaximised) {
  const auto c = plateau(Monitor::kValAccuracy, 1, 0.5, 0, 0.0);
  EXPECT_EQ(rates(c, {0.5, 0.6, 0.55, 0.7, 0.7}), (std::vector<double>{1, 1, 0.5, 0.5, 0.25}));
}

TEST(PlateauRule, CooldownEpochsDoNotCount) {
  // Keras decrements the cooldown first and checks it again after: with cooldown 2 the epoch
  // after a cut and the next do not count, the one after does.
  const auto c = plateau(Monitor::kTrainLoss, 1, 0.5, 2, 0.0);
  EXPECT_EQ(rates(c, {1, 1, 1, 1, 1, 1, 1}),
            (std::vector<double>{1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125}));
  // Cooldown 1: the cut epoch's next one is cooling, counted after the decrement.
  const auto one = plateau(Monitor::kTrainLoss, 1, 0.5, 1, 0.0);
  EXPECT_EQ(rates(one, {1, 1, 1, 1}), (std::vector<double>{1, 0.5, 0.25, 0.125}));
}

TEST(PlateauRule, NeverBelowMinLr) {
  // Cut to max(rate x factor, min_lr), and only while the rate is above min_lr (as float32).
  const auto c = plateau(Monitor::kValLoss, 1, 0.1, 0, 0.0, 0.05);
  EXPECT_EQ(rates(c, {1, 1, 1, 1}), (std::vector<double>{1, 0.1, 0.05, 0.05}));
}

TEST(ScheduledRate, EachScheduleAtItsEnds) {
  TrainingConfig c;
  c.learning_rate = 0.1;
  c.epochs = 10;
  const int64_t b = 5;  // steps an epoch; 50 in all
  c.lr_schedule = LrSchedule::kConstant;
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 37, b), 0.1);
  c.lr_schedule = LrSchedule::kStep;
  c.lr_step_epochs = 3;
  c.lr_gamma = 0.5;
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 14, b), 0.1);   // epoch 2 (0-based)
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 15, b), 0.05);  // epoch 3
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 49, b), 0.0125);
  c.lr_schedule = LrSchedule::kCosine;
  c.lr_min = 0.001;
  c.lr_warmup_epochs = 2;
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 0, b), 0.01);  // (0 + 1) / 10 of the way up
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 9, b), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 10, b), 0.1);                  // the cosine's start
  EXPECT_NEAR(scheduled_rate(c, 30, b), 0.001 + 0.099 / 2, 1e-12);  // halfway through it
  EXPECT_GT(scheduled_rate(c, 49, b), 0.001);
  EXPECT_LT(scheduled_rate(c, 49, b), 0.0013);
  c.lr_schedule = LrSchedule::kOneCycle;
  c.lr_pct_start = 0.3;
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 0, b), 0.1 / 25);         // PyTorch's div_factor
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 14, b), 0.1);             // 0.3 x 50 - 1: the peak
  EXPECT_DOUBLE_EQ(scheduled_rate(c, 49, b), 0.1 / 25 / 1e4);  // final_div_factor
}

TEST(OneCycle, APhaseOfNoStepsIsAConfigErrorNamingLrPctStart) {
  // PyTorch's OneCycleLR rises for pct_start x steps - 1 steps and falls for the rest (steps - 1
  // - that); a rise of 0 steps divides 0 by 0 (a NaN rate here), one below 0 skips the rise.
  TrainingConfig c;
  c.lr_schedule = LrSchedule::kOneCycle;
  c.epochs = 1;
  c.lr_pct_start = 0.1;
  const auto error = [&](int64_t steps_per_epoch) -> std::string {
    try {
      check_one_cycle_steps(c, steps_per_epoch);
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error(10),
            "training.lr_pct_start: onecycle over 10 steps (1 epoch(s) of 10 batches) with "
            "lr_pct_start 0.1 rises for 0 steps and falls for 9 (PyTorch's OneCycleLR: "
            "lr_pct_start x steps - 1, and steps - 1 - that); both must be more than 0, so "
            "lr_pct_start must be above 0.1 here (1 / steps), or the run needs more steps");
  EXPECT_EQ(error(11), "");  // a rise of 0.1 steps
  c.lr_pct_start = 0.3;
  EXPECT_EQ(error(2),
            "training.lr_pct_start: onecycle over 2 steps (1 epoch(s) of 2 batches) with "
            "lr_pct_start 0.3 rises for -0.4 steps and falls for 1.4 (PyTorch's OneCycleLR: "
            "lr_pct_start x steps - 1, and steps - 1 - that); both must be more than 0, so "
            "lr_pct_start must be above 0.5 here (1 / steps), or the run needs more steps");
  c.epochs = 2;  // 4 steps: a rise of 0.2
  EXPECT_EQ(error(2), "");
  c.epochs = 1;
  c.lr_schedule = LrSchedule::kCosine;  // the other schedules have no phases
  EXPECT_EQ(error(2), "");

  // fit() refuses it before the first step, once it knows the steps (10 batches of 2).
  c.lr_schedule = LrSchedule::kOneCycle;
  c.lr_pct_start = 0.1;
  struct CountBatches : TrainingCallback {
    void on_batch_end(const BatchProgress&) override { ++batches; }
    int batches = 0;
  } count;
  torch::manual_seed(0);
  DenseHead head(4, 3, 0.0);
  FitOptions options = FitOptions::from_config(c);
  options.training.batch_size = 2;
  options.callbacks = {&count};
  const auto x = torch::randn({20, 4});
  const auto y = torch::randint(0, 10, {20}, torch::kInt64);
  try {
    fit(*head, x, y, x, y, options);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("training.lr_pct_start: onecycle over 10 steps (1 "
                                          "epoch(s) of 10 batches) with lr_pct_start 0.1 rises "
                                          "for 0 steps",
                                          0),
              0u)
        << e.what();
  }
  EXPECT_EQ(count.batches, 0);
}

}  // namespace
}  // namespace cifar_exp
