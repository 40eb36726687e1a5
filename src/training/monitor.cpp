// The monitored metric (monitor.h).
#include "cifar_exp/training/monitor.h"

#include <limits>

namespace cifar_exp {

double monitored_value(Monitor monitor, const EpochMetrics& m) {
  switch (monitor) {
    case Monitor::kValLoss:
      return m.val_loss;
    case Monitor::kValAccuracy:
      return m.val_accuracy;
    case Monitor::kTrainLoss:
      return m.train_loss;
    case Monitor::kTrainAccuracy:
      return m.train_accuracy;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

bool maximizes(Monitor monitor, MonitorMode mode) {
  if (mode != MonitorMode::kAuto) return mode == MonitorMode::kMax;
  return monitor == Monitor::kValAccuracy || monitor == Monitor::kTrainAccuracy;
}

double initial_best(bool maximize) {
  return maximize ? -std::numeric_limits<double>::infinity()
                  : std::numeric_limits<double>::infinity();
}

}  // namespace cifar_exp
