// One page to share: report.html, the answer a folder of runs gives (a sweep's, or any) in one
// self-contained HTML file: the question, the comparison table, the plots (inlined as data URLs),
// each row's settings and what differs between rows, its seeds, and where the results come from
// (machine, libtorch, device, convolution path). No script, no network: it opens anywhere,
// phones included, and is what a researcher attaches to a PR or a paper's supplement.
#pragma once

#include <string>
#include <vector>

#include "cifar_exp/records/comparison.h"

namespace cifar_exp {

struct ReportOptions {
  std::vector<std::string> paths;  // run folders or folders of them, as `compare` takes them
  CompareOptions compare;          // baseline and the table's columns
  // PNGs to show (every *.png there, by name); default: <first path>/plots when it exists.
  std::string plots_dir;
};

// The page. Throws as `compare` does (a path that does not exist, no runs, unknown baseline).
std::string report_html(const ReportOptions& options);

// Where `cifar-exp report` writes when not told: <path>/report.html for one folder; ConfigError
// otherwise (several paths, or a single run folder's own files are not the report's place).
std::string default_report_path(const std::vector<std::string>& paths);

}  // namespace cifar_exp
