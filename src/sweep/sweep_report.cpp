// The end of a sweep: table, plots and report.html in its folder (sweep_report.h).
#include "cifar_exp/sweep/sweep_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/process.h"
#include "cifar_exp/records/comparison.h"
#include "cifar_exp/records/report.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// The Python that draws the plots: --plot-python, else $PLOT_PYTHON, else /usr/bin/python3.
std::string plot_python(const SweepRunOptions& run) {
  std::string python = run.plot_python;
  if (python.empty()) {
    const char* env = std::getenv("PLOT_PYTHON");
    python = env && *env ? env : "/usr/bin/python3";
  }
  return python;
}

// scripts/plot_runs.py into the folder's plots/, saying which files it drew (or where its log
// is), or why there are none.
void draw_plots(const SweepPlan& plan, const SweepRunOptions& run, std::ostream& out) {
  const SweepFolder folder(plan.output_dir);
  const std::string python = plot_python(run);
  std::error_code ec;
  const bool usable =
      ::access(python.c_str(), X_OK) == 0 &&
      wait_for(spawn({python, "-c", "import matplotlib, numpy"}, "/dev/null", true)) == 0;
  if (!usable) {
    out << "Plots skipped: needs Python 3 with matplotlib (Debian: apt-get install "
           "python3-matplotlib; or set PLOT_PYTHON)"
        << std::endl;
    return;
  }
  const std::string log = folder.plots_log();
  const std::string binary = run.binary.empty() ? this_binary() : run.binary;
  const int code = wait_for(spawn({python, script_path("plot_runs.py"), plan.output_dir, "--out",
                                   folder.plots(), "--cifar-exp", binary},
                                  log, false));
  if (code != 0) {
    out << "Plots failed: see " << log << std::endl;
    return;
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder.plots(), ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::string files;
  for (const auto& name : names) files += (files.empty() ? "" : " ") + name;
  out << "Plots: " << folder.plots() << "/ (" << files << ")" << std::endl;
}

}  // namespace

void report_sweep(const SweepPlan& plan, const SweepRunOptions& run, std::ostream& out) {
  const SweepFolder folder(plan.output_dir);
  out << "Comparison (" << plan.output_dir << "):" << std::endl;
  out << comparison_text({plan.output_dir}, "text") << std::flush;
  write_file_atomic(folder.comparison_markdown(), comparison_text({plan.output_dir}, "markdown"));
  write_file_atomic(folder.comparison_csv(), comparison_text({plan.output_dir}, "csv"));
  draw_plots(plan, run, out);
  ReportOptions report;
  report.paths = {plan.output_dir};
  write_file_atomic(folder.report(), report_html(report));
  out << "Table: " << folder.comparison_markdown() << "; the page to share: " << folder.report()
      << std::endl;
}

}  // namespace cifar_exp
