// The best epoch and early stopping (early_stopping.h).
#include "cifar_exp/training/early_stopping.h"

#include "cifar_exp/training/monitor.h"
#include "cifar_exp/training/trained_state.h"

namespace cifar_exp {

std::optional<BestCriterion> best_criterion(const TrainingConfig& config) {
  if (const auto& es = config.early_stopping) {
    return BestCriterion{es->monitor, maximizes(es->monitor, es->mode), es->min_delta,
                         es->start_from_epoch};
  }
  if (config.validation == Validation::kNone) return std::nullopt;
  return BestCriterion{};
}

bool improves_on(const BestCriterion& criterion, double value, double reference) {
  // Keras: monitor_op(value - min_delta, reference), min_delta negated when minimising.
  return criterion.maximize ? value - criterion.min_delta > reference
                            : value + criterion.min_delta < reference;
}

EarlyStoppingRule::EarlyStoppingRule(const BestCriterion& criterion,
                                     std::optional<int64_t> patience,
                                     std::optional<double> baseline)
    : criterion_(criterion),
      patience_(patience),
      baseline_(baseline),
      best_(initial_best(criterion.maximize)) {}

EarlyStoppingRule::Verdict EarlyStoppingRule::update(int64_t epoch, double value) {
  Verdict verdict;
  if (epoch <= criterion_.start_from_epoch) return verdict;
  if (best_epoch_ == 0) {  // Keras keeps the first watched epoch's weights in any case
    best_epoch_ = epoch;
    verdict.best = true;
  }
  ++wait_;
  if (improves_on(criterion_, value, best_)) {
    best_ = value;
    best_epoch_ = epoch;
    // Keras restarts the count only for an epoch that beats the baseline too.
    if (!baseline_ || improves_on(criterion_, value, *baseline_)) wait_ = 0;
    verdict.best = true;
    return verdict;
  }
  verdict.stop = patience_ && wait_ >= *patience_ && epoch > 1;
  return verdict;
}

BestEpochKeeper::BestEpochKeeper(const TrainingConfig& config, bool keep_weights)
    : criterion_(best_criterion(config)),
      keep_weights_(keep_weights ||
                    (config.early_stopping && config.early_stopping->restore_best_weights)),
      restore_(config.early_stopping && config.early_stopping->restore_best_weights) {
  if (config.early_stopping) {
    patience_ = config.early_stopping->patience;
    baseline_ = config.early_stopping->baseline;
  }
}

void BestEpochKeeper::on_train_begin(int64_t, int64_t) {
  if (!criterion_) return;
  rule_.emplace(*criterion_, patience_, baseline_);
  // The epochs a checkpoint brought, replayed; their best weights came with it (History).
  History& history = fit_state().history;
  for (const EpochMetrics& m : history.epochs) update(m, /*replaying=*/true);
}

void BestEpochKeeper::update(const EpochMetrics& m, bool replaying) {
  History& history = fit_state().history;
  const auto verdict = rule_->update(m.epoch, monitored_value(criterion_->monitor, m));
  history.best_epoch = rule_->best_epoch();
  if (verdict.best && keep_weights_ && !replaying) {
    history.best_weights = trained_state(fit_state().model);
  }
  if (verdict.stop) history.stopped_early = true;
  if (history.best_epoch > 0) {
    // The best epoch's value (rule_->best_value() is infinite while no epoch has improved).
    history.best_value =
        monitored_value(criterion_->monitor, history.epochs.at(size_t(history.best_epoch - 1)));
  }
}

void BestEpochKeeper::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  if (rule_) update(m, /*replaying=*/false);
}

void BestEpochKeeper::on_train_end(const History& history) {
  if (!restore_ || history.interrupted || history.best_weights.empty()) return;
  load_trained_state(fit_state().model, history.best_weights);
  fit_state().history.restored_best_weights = true;
}

}  // namespace cifar_exp
