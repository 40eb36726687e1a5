// A sweep task's result and how the sweep's lines name and describe it (sweep_task.h).
#include "cifar_exp/sweep/sweep_task.h"

#include <iomanip>
#include <sstream>

#include "cifar_exp/config/config.h"

namespace cifar_exp {
namespace {

std::string percent(double fraction) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << 100.0 * fraction << "%";
  return out.str();
}

}  // namespace

std::string task_label(const SweepPlan& plan, const SweepTask& task) {
  return "[" + std::to_string(task.index + 1) + "/" + std::to_string(plan.tasks.size()) + "] " +
         task.name + " seed " + std::to_string(task.seed);
}

int exit_code_of(const TaskResult& result) {
  switch (result.outcome) {
    case TaskOutcome::kDone:
    case TaskOutcome::kAlreadyComplete:
      return 0;
    case TaskOutcome::kSkipped:
      return int(ExitCode::kBusy);
    default:
      return result.exit_code;
  }
}

std::string describe(const TaskResult& r) {
  std::ostringstream out;
  switch (r.outcome) {
    case TaskOutcome::kDone:
      out << "done in " << int64_t(r.seconds + 0.5) << " s" << (r.resumed ? " (resumed)" : "")
          << ": test accuracy " << (r.test_accuracy ? percent(*r.test_accuracy) : "?") << " ("
          << r.run_dir << ")";
      break;
    case TaskOutcome::kAlreadyComplete:
      out << "already complete (" << r.run_dir << ")";
      break;
    case TaskOutcome::kSkipped:
      out << "skipped: " << r.message;
      break;
    case TaskOutcome::kInterrupted:
      out << "interrupted: " << (r.message.empty() ? "stopped by a signal" : r.message);
      break;
    case TaskOutcome::kFailed:
      out << "FAILED (exit " << r.exit_code << "): " << r.message;
      if (r.exit_code == int(ExitCode::kWeights)) {
        out << "\n        weights missing? fetch them with: "
            << script_path("download_vgg16_weights.sh");
      }
      break;
  }
  return out.str();
}

}  // namespace cifar_exp
