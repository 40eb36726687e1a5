// Learning-rate schedules: Keras' ReduceLROnPlateau rules on constructed metric sequences, and
// the closed forms of the per-step schedules at their ends (optimizer_reference.py checks every
// step against PyTorch's schedulers).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "cifar_exp/lr_schedule.h"

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

}  // namespace
}  // namespace cifar_exp
