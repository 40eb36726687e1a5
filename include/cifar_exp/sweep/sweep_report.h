// The end of a sweep: its comparison table, plots and page to share, written into its folder
// (SweepFolder, sweep_folder.h).
#pragma once

#include <iosfwd>

#include "cifar_exp/sweep/sweep.h"
#include "cifar_exp/sweep/sweep_task.h"

namespace cifar_exp {

// After the runs: prints the comparison of the sweep's folder to `out` and writes
// comparison.md and comparison.csv there, then draws plots/ (scripts/plot_runs.py) when Python
// with matplotlib is there, saying so either way, and report.html (report.h).
void report_sweep(const SweepPlan& plan, const SweepRunOptions& run, std::ostream& out);

}  // namespace cifar_exp
