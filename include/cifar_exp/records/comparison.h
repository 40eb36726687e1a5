// The `compare` command: pools run folders (run_records.h) by what they computed (config name and
// identity, run_identity.h; each seed once) and builds the final comparison table (mean and sample
// standard deviation over seeds, and each configuration's difference to a baseline with a Welch
// interval and p-value), as Markdown, CSV or JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/records/run_records.h"
#include "cifar_exp/records/statistics.h"

namespace cifar_exp {

// The order a sweep ran its configurations in, from the sweep.json that `cifar-exp sweep` writes
// into its output folder: configuration names, and run names (configuration x grid point).
struct SweepOrder {
  std::vector<std::string> configurations, runs;
};
// The sweep.json of each folder in `paths` that has one, joined in argument order ({} when none
// has). Throws ConfigError naming an unreadable sweep.json.
SweepOrder read_sweep_order(const std::vector<std::string>& paths);

// p-values below this are called significant.
constexpr double kSignificanceLevel = 0.05;

// A row's mean test accuracy against its baseline row's.
struct BaselineComparison {
  std::string baseline;      // the row compared with
  bool is_baseline = false;  // this row is the baseline (then `welch` is empty)
  double difference = 0;     // mean test accuracy minus the baseline's, as a fraction
  // Welch's t-test and 95% interval; empty when either side has fewer than 2 distinct seeds.
  std::optional<WelchTest> welch;
  int64_t seeds = 0, baseline_seeds = 0;  // distinct seeds on each side
  bool significant() const { return welch && welch->p_value < kSignificanceLevel; }
};

// One completed run of a row: where it is (as `compare --runs` lists it) and what it scored.
struct SeedResult {
  std::string dir;
  std::optional<int64_t> seed;
  double test_accuracy = 0;
};

// A completed run left out of a row's statistics: the same settings and seed as `counted`.
struct DuplicateRun {
  std::string dir, counted;
  int64_t seed = 0;
};

// A row is one configuration name with one set of settings (its runs' identity less the seed):
// runs of one name whose settings differ are rows of their own, each labelled by the keys in
// which it differs from the others (`variant`).
struct ComparisonRow {
  std::string name, model, transfer;
  // "training.epochs=2": this row's values of the keys in which rows of the same name differ;
  // "" when the name has one row. "settings unknown" for runs without a readable config.json.
  std::string variant;
  std::string settings_fingerprint;       // run_identity.h; "" when unknown
  std::vector<std::string> fingerprints;  // the distinct fingerprints (settings and data)
  bool data_files_differ = false;         // the runs read data files with other checksums
  // "test" when the test split selected what a run reports (summary.json's selected_on);
  // "split", "" (nothing selected), or "mixed".
  std::string selected_on;
  std::vector<DuplicateRun> duplicates;  // counted once: same settings and seed
  std::vector<std::string> incomplete_dirs;
  // The row's name as the table shows it: "name [variant]".
  std::string label() const { return variant.empty() ? name : name + " [" + variant + "]"; }
  // The grid point (keys from the name, values from the runs' config.json, else the name's text).
  std::vector<std::pair<std::string, nlohmann::json>> grid;
  bool augmentation = false;
  // What "best val accuracy" was measured on (summary.json's validation): test, split or none;
  // runs of one row that differ: "mixed".
  std::string validation;
  // training.optimizer and training.lr_schedule of the runs (config.json); runs of one row that
  // differ: "mixed".
  std::string optimizer, lr_schedule;
  // training.early_stopping of the runs: "off", or "<monitor>, patience <N>"; "mixed" as above.
  std::string early_stopping;
  int64_t epochs = 0;
  int64_t runs = 0;        // completed runs counted: one per distinct seed
  int64_t incomplete = 0;  // runs found that did not complete
  // best_val_accuracy: the validation accuracy at each run's best epoch (summary.json's
  // best_epoch: the early-stopping monitor's best, else the highest val_accuracy).
  Stat test_accuracy, test_error, best_val_accuracy, train_seconds, images_per_second;
  Stat epochs_run;  // epochs the completed runs trained (fewer than `epochs` when stopped early)
  std::vector<SeedResult> seeds;  // the completed runs behind the statistics, in folder order
  int64_t trainable_params = 0, frozen_params = 0;
  std::optional<double> reference_accuracy;
  std::string note;  // e.g. "missing weights: run scripts/download_vgg16_weights.sh"
  // Empty when this row or its baseline has no completed run.
  std::optional<BaselineComparison> vs_baseline;
};

struct CompareOptions {
  SweepOrder order;
  // `compare --baseline`: a configuration (or a full row name). Empty: the sweep's first
  // configuration, else the first row's configuration.
  std::string baseline;
  // `compare --columns`: what the text and markdown tables show (format_text).
  std::string columns = "default";
};

// Pools by config name and settings (each seed once). Rows named in options.order.runs come first,
// in that order; the others follow in order of first appearance, the grid points of one base name
// next to each other, ordered by their values. Each row is then compared with the baseline: a grid
// point with the baseline configuration's row at the same grid point when there is one, else with
// the baseline row itself. Throws ConfigError when options.baseline names no row.
std::vector<ComparisonRow> compare_runs(const std::vector<RunRecord>& runs,
                                        const CompareOptions& options = {});

// Each key varied by a grid is a column after the configuration (in the order first seen). The
// difference to the baseline is the last column (markdown: "+1.23 pp [−0.40, +2.86], p = 0.11,
// not significant", in percentage points) or the last columns (CSV, as fractions; JSON:
// "vs_baseline").
// The tables a person reads. `columns`: "default" (configuration, grid keys, the settings that
// differ between rows folded into one setup column, seeds, test accuracy, vs baseline, the
// notebook's figure; settings every row shares in a line above, notes below: fits 100 columns for
// the four notebook configurations), "all" (every column), or a comma list of column_names() and
// grid keys. Throws ConfigError for an unknown name. format_text: aligned plain text for a
// terminal; format_markdown: a Markdown table. CSV and JSON always hold every column.
std::string format_text(const std::vector<ComparisonRow>& rows,
                        const std::string& columns = "default");
std::string format_markdown(const std::vector<ComparisonRow>& rows,
                            const std::string& columns = "all");
// The same view as an HTML table (class "num" on numeric cells) with its lines above and below
// as paragraphs, every text escaped: what report.html shows.
std::string format_html(const std::vector<ComparisonRow>& rows,
                        const std::string& columns = "default");
// `text` with & < > " as HTML entities.
std::string html_escape(const std::string& text);
// The names --columns takes (JSON keys of the table's columns).
std::vector<std::string> column_names();
std::string format_csv(const std::vector<ComparisonRow>& rows);
nlohmann::json to_json(const std::vector<ComparisonRow>& rows);

// "PATH, PATH: no run folders there": how compare and report refuse paths that hold no run.
std::string no_run_folders_message(const std::vector<std::string>& paths);

// `compare PATHS --format markdown|csv|json`: the table of the run folders in `paths`, rows in
// their sweep's order. ConfigError when there is no run folder there.
// `damaged`, when given, receives the runs found damaged (run_records.h's check_not_damaged).
std::string comparison_text(const std::vector<std::string>& paths, const std::string& format,
                            CompareOptions options = {}, std::vector<RunRecord>* damaged = nullptr);

}  // namespace cifar_exp
