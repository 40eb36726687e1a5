// Learning-rate schedules (lr_schedule.h).
#include "cifar_exp/training/lr_schedule.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/training/monitor.h"
#include "cifar_exp/training/optimizers.h"

namespace cifar_exp {
namespace {

constexpr double kPi = 3.14159265358979323846;

// PyTorch's OneCycleLR cosine annealing from `start` to `end` at `pct` of the way.
double cosine_anneal(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

double one_cycle_rate(const TrainingConfig& c, int64_t step, int64_t total) {
  const double max_lr = c.learning_rate, initial = max_lr / 25.0, min_lr = initial / 1e4;
  const double rise_end = c.lr_pct_start * double(total) - 1.0, fall_end = double(total) - 1.0;
  const double t = double(step);
  if (t <= rise_end) return cosine_anneal(initial, max_lr, t / rise_end);
  return cosine_anneal(max_lr, min_lr, (t - rise_end) / (fall_end - rise_end));
}

}  // namespace

PlateauRule::PlateauRule(const TrainingConfig& c)
    : maximize_(maximizes(c.lr_monitor, MonitorMode::kAuto)),
      factor_(c.lr_factor),
      min_lr_(c.lr_min),
      min_delta_(c.lr_min_delta),
      patience_(c.lr_patience),
      cooldown_(c.lr_cooldown),
      best_(initial_best(maximize_)) {}

bool PlateauRule::improved(double current) const {
  return maximize_ ? current > best_ + min_delta_ : current < best_ - min_delta_;
}

double PlateauRule::update(double current, double rate) {
  // Keras' on_epoch_end, step by step.
  const bool was_cooling = cooldown_counter_ > 0;
  if (was_cooling) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (improved(current)) {
    best_ = current;
    wait_ = 0;
  } else if (cooldown_counter_ <= 0) {
    ++wait_;
    if (wait_ >= patience_ && rate > double(float(min_lr_))) {
      rate = std::max(rate * factor_, min_lr_);
      cooldown_counter_ = cooldown_;
      wait_ = 0;
    }
  }
  return rate;
}

double scheduled_rate(const TrainingConfig& c, int64_t step, int64_t steps_per_epoch) {
  const double base = c.learning_rate;
  const int64_t total = c.epochs * steps_per_epoch;
  switch (c.lr_schedule) {
    case LrSchedule::kConstant:
    case LrSchedule::kReduceOnPlateau:
      return base;
    case LrSchedule::kStep:
      return base * std::pow(c.lr_gamma, double((step / steps_per_epoch) / c.lr_step_epochs));
    case LrSchedule::kCosine: {
      const int64_t warmup = c.lr_warmup_epochs * steps_per_epoch;
      if (step < warmup) return base * double(step + 1) / double(warmup);
      const double progress = double(step - warmup) / double(total - warmup);
      return c.lr_min + (base - c.lr_min) * (1.0 + std::cos(kPi * progress)) / 2.0;
    }
    case LrSchedule::kOneCycle:
      return one_cycle_rate(c, step, total);
  }
  return base;
}

void check_one_cycle_steps(const TrainingConfig& c, int64_t steps_per_epoch) {
  if (c.lr_schedule != LrSchedule::kOneCycle) return;
  const int64_t total = c.epochs * steps_per_epoch;
  // PyTorch's OneCycleLR: the rising phase ends at step pct_start x total_steps - 1, the
  // falling one at total_steps - 1; a phase of no steps is a division by zero there.
  const double up = c.lr_pct_start * double(total) - 1.0, down = double(total) - up - 1.0;
  if (up > 0 && down > 0) return;
  auto number = [](double x) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", x);
    return std::string(text);
  };
  throw ConfigError("training.lr_pct_start: onecycle over " + std::to_string(total) + " steps (" +
                    std::to_string(c.epochs) + " epoch(s) of " + std::to_string(steps_per_epoch) +
                    " batches) with lr_pct_start " + number(c.lr_pct_start) + " rises for " +
                    number(up) + " steps and falls for " + number(down) +
                    " (PyTorch's OneCycleLR: lr_pct_start x steps - 1, and steps - 1 - that); "
                    "both must be more than 0, so lr_pct_start must be above " +
                    number(1.0 / double(total)) + " here (1 / steps), or the run needs more steps");
}

void LearningRateScheduler::on_train_begin(int64_t, int64_t batches_per_epoch) {
  steps_per_epoch_ = std::max<int64_t>(1, batches_per_epoch);
  check_one_cycle_steps(config_, steps_per_epoch_);
  const FitState& s = fit_state();
  // The plateau rule replayed over the epochs a checkpoint brought (none on a fresh start).
  plateau_ = PlateauRule(config_);
  plateau_rate_ = config_.learning_rate;
  for (const EpochMetrics& m : s.history.epochs) on_epoch_end(m, {});
  set_rate_for((s.start.epoch - 1) * steps_per_epoch_ + s.start.batches_done);
}

void LearningRateScheduler::on_batch_end(const BatchProgress& progress) {
  // Only cosine and onecycle change within an epoch; the others at its end.
  if (config_.lr_schedule != LrSchedule::kCosine && config_.lr_schedule != LrSchedule::kOneCycle) {
    return;
  }
  set_rate_for((progress.epoch - 1) * steps_per_epoch_ + progress.batch);
}

void LearningRateScheduler::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  if (config_.lr_schedule == LrSchedule::kReduceOnPlateau) {
    plateau_rate_ = plateau_.update(monitored_value(config_.lr_monitor, m), plateau_rate_);
  }
  set_rate_for(m.epoch * steps_per_epoch_);
}

void LearningRateScheduler::set_rate_for(int64_t step) {
  set_learning_rate(fit_state().optimizer, config_.lr_schedule == LrSchedule::kReduceOnPlateau
                                               ? plateau_rate_
                                               : scheduled_rate(config_, step, steps_per_epoch_));
}

}  // namespace cifar_exp
