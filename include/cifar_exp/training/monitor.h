// The monitored metric, as early stopping (early_stopping.h) and the plateau schedule
// (lr_schedule.h's PlateauRule) both watch it: Keras keeps this in MonitorCallback, the base of
// EarlyStopping and ReduceLROnPlateau. (What counts as an improvement stays with each: Keras'
// two rules differ in where min_delta goes.)
#pragma once

#include "cifar_exp/config/choices.h"
#include "cifar_exp/records/run_summary.h"

namespace cifar_exp {

// An epoch's value of the metric `monitor` names (training.lr_monitor,
// training.early_stopping.monitor).
double monitored_value(Monitor monitor, const EpochMetrics& m);

// Whether `mode` makes `monitor` a metric to maximise (auto: accuracies yes, losses no).
bool maximizes(Monitor monitor, MonitorMode mode);

// The best value before any epoch, which any value improves on: -infinity when maximising,
// +infinity when minimising.
double initial_best(bool maximize);

}  // namespace cifar_exp
