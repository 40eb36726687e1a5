// The best epoch and early stopping (training.early_stopping): Keras' EarlyStopping rule, and a
// fit() callback that follows it, keeps the best epoch's weights (for model.best.pt, Keras'
// ModelCheckpoint(save_best_only=True), and restore_best_weights) and stops training when the
// monitored metric has stopped improving. Like the learning-rate schedules, its state follows
// from the completed epochs (replayed on resume); only the best weights are saved in checkpoints.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include "cifar_exp/config/config.h"
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// What makes an epoch the best.
struct BestCriterion {
  Monitor monitor = Monitor::kValAccuracy;
  bool maximize = true;
  double min_delta = 0;          // the least change that counts as an improvement
  int64_t start_from_epoch = 0;  // epochs 1 .. start_from_epoch are not watched
};

// training.early_stopping's monitor, mode, min_delta and start_from_epoch; without it, the
// highest val_accuracy; nullopt without either (no validation: the last epoch stands for the
// best).
std::optional<BestCriterion> best_criterion(const TrainingConfig& config);

// Whether `value` beats `reference` by more than the criterion's min_delta (Keras'
// _is_improvement). NaN never does.
bool improves_on(const BestCriterion& criterion, double value, double reference);

// Keras' EarlyStopping.on_epoch_end, one epoch at a time (epochs numbered from 1): an epoch
// improves when its value beats the best by more than min_delta; the first watched epoch is the
// best so far even if it does not (Keras keeps its weights); `wait` counts watched epochs since
// the last improvement, and training stops once it reaches `patience` at an epoch that does not
// improve, never after the first epoch. With a `baseline` (Keras' baseline), an improvement
// restarts the count only when it beats the baseline too, so a run that never beats it stops at
// the first epoch without improvement after `patience` watched epochs. patience nullopt: never
// stops (the best epoch alone is followed).
class EarlyStoppingRule {
 public:
  EarlyStoppingRule(const BestCriterion& criterion, std::optional<int64_t> patience,
                    std::optional<double> baseline = std::nullopt);
  struct Verdict {
    bool best = false;  // this epoch is now the best: keep its weights
    bool stop = false;  // stop training after it
  };
  Verdict update(int64_t epoch, double value);
  int64_t best_epoch() const { return best_epoch_; }  // 0 before the first watched epoch
  double best_value() const { return best_; }         // +-infinity before the first improvement
  int64_t wait() const { return wait_; }

 private:
  BestCriterion criterion_;
  std::optional<int64_t> patience_;
  std::optional<double> baseline_;
  double best_;
  int64_t best_epoch_ = 0, wait_ = 0;
};

// Follows the best epoch in fit() (History::best_epoch, best_value, best_weights), stops early
// (History::stopped_early) and, with restore_best_weights, loads the best weights when training
// ends (not when it is interrupted: a checkpoint must hold the model where it stopped). fit()
// runs it before the Checkpointer, so that each checkpoint holds the best weights so far.
class BestEpochKeeper : public TrainingCallback {
 public:
  // keep_weights: copy the best epoch's weights (for model.best.pt); restore_best_weights
  // implies it.
  BestEpochKeeper(const TrainingConfig& config, bool keep_weights);
  void on_train_begin(int64_t epochs, int64_t batches_per_epoch) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;
  void on_train_end(const History& history) override;

 private:
  void update(const EpochMetrics& m, bool replaying);
  std::optional<BestCriterion> criterion_;
  std::optional<int64_t> patience_;
  std::optional<double> baseline_;
  bool keep_weights_, restore_;
  std::optional<EarlyStoppingRule> rule_;
};

}  // namespace cifar_exp
