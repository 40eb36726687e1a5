// Learning-rate schedules (training.lr_schedule), as a callback of fit() that sets the
// optimizer's rate before each step. The rate of step t (0-based over the whole run, E epochs of
// B batches, T = E x B steps, base = training.learning_rate):
//   constant           base.
//   step               base x gamma^floor(epoch / lr_step_epochs), per epoch (PyTorch's StepLR).
//   cosine             per step: with W = lr_warmup_epochs x B steps of linear warm-up,
//                      base x (t + 1) / W while t < W, then lr_min + (base - lr_min) x
//                      (1 + cos(pi x (t - W) / (T - W))) / 2 (PyTorch's CosineAnnealingLR
//                      with T_max = T and eta_min = lr_min when there is no warm-up).
//   onecycle           per step, PyTorch's OneCycleLR with max_lr = base, total_steps = T,
//                      pct_start = lr_pct_start, cosine annealing, div_factor 25,
//                      final_div_factor 1e4, momentum not cycled.
//   reduce_on_plateau  per epoch, Keras' ReduceLROnPlateau on lr_monitor (PlateauRule).
// Each rate is a function of the run's position and its epochs' metrics, which checkpoints
// hold, so a resumed run sets the same rates as an uninterrupted one (the plateau rule is
// replayed over the completed epochs).
#pragma once

#include <cstdint>

#include "cifar_exp/config/config.h"
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// Keras' ReduceLROnPlateau, one epoch at a time: after `patience` epochs without an improvement
// of more than `min_delta` (a lower loss, a higher accuracy), the rate is multiplied by `factor`
// (not below `min_lr`, and only while above it), then `cooldown` epochs pass before epochs
// without improvement count again.
class PlateauRule {
 public:
  explicit PlateauRule(const TrainingConfig& config);
  // The rate after an epoch whose monitored value was `current`, the rate having been `rate`.
  double update(double current, double rate);

 private:
  bool improved(double current) const;
  bool maximize_;
  double factor_, min_lr_, min_delta_;
  int64_t patience_, cooldown_;
  double best_;
  int64_t wait_ = 0, cooldown_counter_ = 0;
};

// The rate of step `step` (0-based) of a run with `steps_per_epoch` steps an epoch, for every
// schedule but reduce_on_plateau (whose rate depends on the metrics: base here).
double scheduled_rate(const TrainingConfig& config, int64_t step, int64_t steps_per_epoch);

// ConfigError naming training.lr_pct_start when a onecycle schedule over `config.epochs` epochs
// of `steps_per_epoch` steps has a phase of no steps (PyTorch's OneCycleLR divides by zero
// there): pct_start x total - 1 and total - pct_start x total must both be above 0.
void check_one_cycle_steps(const TrainingConfig& config, int64_t steps_per_epoch);

// Sets the rate of each step (fit() runs it after the Checkpointer, so that a resumed run
// starts from its checkpoint's epochs). `config` is the run's (FitOptions::training): its epochs
// are the run's, over which cosine and onecycle run.
class LearningRateScheduler : public TrainingCallback {
 public:
  explicit LearningRateScheduler(const TrainingConfig& config) : config_(config) {}
  void on_train_begin(int64_t epochs, int64_t batches_per_epoch) override;
  void on_batch_end(const BatchProgress& progress) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  void set_rate_for(int64_t step);
  TrainingConfig config_;
  int64_t steps_per_epoch_ = 1;
  PlateauRule plateau_{config_};  // reduce_on_plateau's state
  double plateau_rate_ = 0;       // and its current rate
};

}  // namespace cifar_exp
