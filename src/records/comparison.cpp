// The comparison table of `compare`: rows by configuration, baselines, formats (comparison.h).
#include "cifar_exp/records/comparison.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "cifar_exp/config/config.h"
#include "cifar_exp/config/run_name.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/run_identity.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

std::string base_of(const std::string& name) { return RunName::parse(name).base; }

// The grid value of `path` recorded in the runs' config.json, else the text in the name.
json grid_value(const std::string& path, const std::string& text,
                const std::vector<const RunRecord*>& runs) {
  for (const RunRecord* run : runs) {
    if (const json* value = config_at(run->config, path)) return *value;
  }
  return text;
}

// A row's cell for a value its runs should share: the value, or "mixed" when they differ.
void merge_cell(std::string& cell, const std::string& value) {
  cell = cell.empty() || cell == value ? value : "mixed";
}

std::string grid_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : json_text(value, -1);
}

// The keys varied by grids, in the order first seen.
std::vector<std::string> grid_keys(const std::vector<ComparisonRow>& rows) {
  std::vector<std::string> keys;
  for (const auto& row : rows) {
    for (const auto& [key, value] : row.grid) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  return keys;
}

const json* find_grid_value(const ComparisonRow& row, const std::string& key) {
  for (const auto& [k, value] : row.grid)
    if (k == key) return &value;
  return nullptr;
}

// Grid points of one base name next to each other (where the base was first seen), by value.
void order_grid_points(std::vector<ComparisonRow>& rows) {
  std::map<std::string, size_t> first_seen;
  for (size_t i = 0; i < rows.size(); ++i) first_seen.emplace(base_of(rows[i].name), i);
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    const size_t at_a = first_seen[base_of(a.name)], at_b = first_seen[base_of(b.name)];
    return at_a != at_b ? at_a < at_b : a.grid < b.grid;
  });
}

// Rows the sweep named first, in its order; the others after them, in the order they had.
void order_by_sweep(std::vector<ComparisonRow>& rows, const SweepOrder& order) {
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < order.runs.size(); ++i) position.emplace(order.runs[i], i);
  auto rank = [&](const ComparisonRow& row) {
    const auto at = position.find(row.name);
    return at == position.end() ? order.runs.size() : at->second;
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
}

const ComparisonRow* find_row(const std::vector<ComparisonRow>& rows, const std::string& name) {
  for (const auto& row : rows)
    if (row.name == name) return &row;
  return nullptr;
}

// A row's configuration: its name without the grid point.
std::string configuration_of(const ComparisonRow& row) {
  return row.grid.empty() ? row.name : base_of(row.name);
}

// The row `--baseline name` names: the row called `name`, else the first row of configuration
// `name` (a grid sweep has no row called just by its configuration).
const ComparisonRow* baseline_row(const std::vector<ComparisonRow>& rows, const std::string& name) {
  if (const ComparisonRow* row = find_row(rows, name)) return row;
  for (const auto& row : rows)
    if (configuration_of(row) == name) return &row;
  return nullptr;
}

// What `row` is compared with: for a grid point, the baseline configuration's row at the same
// grid point (the same name after the configuration's), so that only the configuration differs;
// else, or when that point has no row, the baseline row itself.
const ComparisonRow* reference_of(const std::vector<ComparisonRow>& rows, const ComparisonRow& row,
                                  const std::string& name, const ComparisonRow* baseline) {
  if (!row.grid.empty() && RunName::parse(name).base == name) {
    const RunName same_point{name, RunName::parse(row.name).grid};
    if (const ComparisonRow* found = find_row(rows, same_point.text())) return found;
  }
  return baseline;
}

std::string default_baseline(const std::vector<ComparisonRow>& rows, const SweepOrder& order) {
  for (const auto& name : order.configurations)
    if (baseline_row(rows, name)) return name;
  return rows.empty() ? "" : configuration_of(rows.front());
}

[[noreturn]] void throw_unknown_baseline(const std::vector<ComparisonRow>& rows,
                                         const std::string& name) {
  std::vector<std::string> names;
  for (const auto& row : rows) {
    const std::string configuration = configuration_of(row);
    if (std::find(names.begin(), names.end(), configuration) == names.end())
      names.push_back(configuration);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("--baseline " + name + ": no such configuration; available: " +
                    (list.empty() ? "none (no runs found)" : list));
}

void compare_with_baseline(std::vector<ComparisonRow>& rows, const CompareOptions& options) {
  const std::string name =
      options.baseline.empty() ? default_baseline(rows, options.order) : options.baseline;
  if (name.empty()) return;  // no rows
  const ComparisonRow* baseline = baseline_row(rows, name);
  if (!baseline) throw_unknown_baseline(rows, name);
  for (auto& row : rows) {
    const ComparisonRow* reference = reference_of(rows, row, name, baseline);
    if (row.test_accuracy.n == 0 || reference->test_accuracy.n == 0) continue;
    BaselineComparison comparison;
    comparison.baseline = reference->name;
    comparison.is_baseline = reference == &row;
    comparison.difference = row.test_accuracy.mean - reference->test_accuracy.mean;
    comparison.seeds = row.test_accuracy.n;
    comparison.baseline_seeds = reference->test_accuracy.n;
    if (!comparison.is_baseline)
      comparison.welch = welch_test(row.test_accuracy, reference->test_accuracy);
    row.vs_baseline = comparison;
  }
}

// Appends the names in doc[key] (a list of strings, or absent) not yet in `names`; false when
// doc[key] is something else.
bool append_names(std::vector<std::string>& names, const json& doc, const char* key) {
  if (!doc.is_object()) return false;
  if (!doc.contains(key)) return true;
  if (!doc[key].is_array()) return false;
  for (const auto& name : doc[key]) {
    if (!name.is_string()) return false;
    const auto text = name.get<std::string>();
    if (std::find(names.begin(), names.end(), text) == names.end()) names.push_back(text);
  }
  return true;
}

std::string pct(const Stat& s) {
  if (s.n == 0) return "-";
  std::string text = fixed(100 * s.mean, 2) + "%";
  if (s.n > 1) text += " ± " + fixed(100 * s.std, 2);
  return text;
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

json stat_json(const Stat& s) {
  if (s.n == 0) return nullptr;
  return {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
}

// A difference of fractions in percentage points with its sign: "+1.23", "−0.40" (U+2212, the
// typeset minus; "+0.00" rather than "−0.00").
std::string signed_points(double fraction) {
  const std::string digits = fixed(std::fabs(100 * fraction), 2);
  return (fraction < 0 && digits != "0.00" ? "\u2212" : "+") + digits;
}

std::string p_text(double p) {
  if (p < 0.001) return "p < 0.001";
  return "p = " + fixed(p, p < 0.1 ? 3 : 2);
}

// Why a difference has no interval: "no interval: 1 seed here, 2 in the baseline (needs 2+
// distinct seeds on each side)".
std::string no_interval(const BaselineComparison& c) {
  return "no interval: " + std::to_string(c.seeds) + " seed(s) here, " +
         std::to_string(c.baseline_seeds) +
         " in the baseline (needs 2+ distinct seeds on each side)";
}

// "+1.23 pp [−0.40, +2.86], p = 0.11, not significant"
std::string vs_baseline_text(const ComparisonRow& row) {
  if (!row.vs_baseline) return "-";
  const BaselineComparison& c = *row.vs_baseline;
  if (c.is_baseline) return "baseline";
  std::string text = signed_points(c.difference) + " pp";
  if (!c.welch) return text + ", " + no_interval(c);
  text += " [" + signed_points(c.welch->ci_low) + ", " + signed_points(c.welch->ci_high) + "], " +
          p_text(c.welch->p_value);
  return c.significant() ? text : text + ", not significant";
}

// The CSV cells after the notes: baseline, difference, interval, p-value, df, significant.
std::vector<std::string> vs_baseline_cells(const ComparisonRow& row) {
  std::vector<std::string> cells(7);
  if (!row.vs_baseline) return cells;
  const BaselineComparison& c = *row.vs_baseline;
  cells[0] = c.baseline;
  cells[1] = fixed(c.difference, 6);
  if (!c.welch) return cells;
  std::ostringstream p;
  p << std::setprecision(6) << c.welch->p_value;
  cells[2] = fixed(c.welch->ci_low, 6);
  cells[3] = fixed(c.welch->ci_high, 6);
  cells[4] = p.str();
  cells[5] = fixed(c.welch->df, 3);
  cells[6] = c.significant() ? "true" : "false";
  return cells;
}

json vs_baseline_json(const ComparisonRow& row) {
  if (!row.vs_baseline) return nullptr;
  const BaselineComparison& c = *row.vs_baseline;
  json out = {{"baseline", c.baseline},
              {"is_baseline", c.is_baseline},
              {"difference", c.difference},
              {"ci95", nullptr},
              {"p_value", nullptr},
              {"df", nullptr},
              {"t", nullptr},
              {"standard_error", nullptr},
              {"significant", nullptr},
              {"seeds", c.seeds},
              {"baseline_seeds", c.baseline_seeds},
              {"note", c.is_baseline ? "baseline"
                       : c.welch     ? ""
                                     : no_interval(c)}};
  if (c.welch) {
    const WelchTest& w = *c.welch;
    out["ci95"] = {w.ci_low, w.ci_high};
    out["p_value"] = w.p_value;
    out["df"] = w.df;
    if (std::isfinite(w.t)) out["t"] = w.t;
    out["standard_error"] = w.standard_error;
    out["significant"] = c.significant();
    if (!c.significant()) out["note"] = "not significant";
  }
  return out;
}

}  // namespace

SweepOrder read_sweep_order(const std::vector<std::string>& paths) {
  SweepOrder order;
  for (const auto& path : paths) {
    const fs::path file = SweepFolder(path).order();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) continue;
    const auto doc = try_parse_json(read_file(file.string()));
    // Ours has exactly these two lists: anything else is another tool's file (or damaged),
    // refused rather than read or replaced.
    const bool ours = doc && doc->is_object() && doc->size() == 2 &&
                      doc->contains("configurations") && doc->contains("runs");
    if (!ours || !append_names(order.configurations, *doc, "configurations") ||
        !append_names(order.runs, *doc, "runs")) {
      throw ConfigError(file.string() +
                        ": not a cifar-exp sweep record (expected {\"configurations\": [names], "
                        "\"runs\": [names]}); use another folder, or delete it to list rows in "
                        "folder order");
    }
  }
  return order;
}

namespace {

// The figures of a group's completed runs, one entry per run.
struct RunFigures {
  std::vector<double> accuracy, error, best, seconds, speed, epochs;
};

// Adds one run of `row`'s group: its description, and its figures when it completed (once per
// seed), else a note of what is wrong.
void add_run(ComparisonRow& row, RunFigures& figures, const RunRecord& run) {
  const RunSummary& s = run.summary;
  if (run.has_summary_file || run.has_failure_file) {
    if (row.model.empty()) row.model = s.model;
    if (row.transfer.empty()) row.transfer = s.transfer;
    row.augmentation = s.augmentation;
    if (s.reference_accuracy) row.reference_accuracy = s.reference_accuracy;
    if (run.has_summary_file) merge_cell(row.validation, s.validation);
  }
  if (run.config.is_object()) {
    // config.json of a version before lr_schedule: constant.
    const auto choice = [&](const char* path, const std::string& absent, std::string& cell) {
      const json* value = config_at(run.config, path);
      merge_cell(cell, !value ? absent : value->is_string() ? value->get<std::string>() : "?");
    };
    choice("training.optimizer", to_string(Optimizer::kAdam), row.optimizer);
    choice("training.lr_schedule", to_string(LrSchedule::kConstant), row.lr_schedule);
    const json* early_stopping = config_at(run.config, "training.early_stopping");
    std::string described = "off";
    if (early_stopping && early_stopping->is_object()) {
      const json* monitor = config_at(run.config, "training.early_stopping.monitor");
      const json* patience = config_at(run.config, "training.early_stopping.patience");
      described = (monitor && monitor->is_string() ? monitor->get<std::string>() : "?") +
                  ", patience " + (patience ? patience->dump() : "?");
    }
    merge_cell(row.early_stopping, described);
  }
  if (!run.complete()) {
    ++row.incomplete;
    row.incomplete_dirs.push_back(run.dir);
    std::string note = run.problem;
    if (run.status == "failed" && run.failure_exit_code == int(ExitCode::kWeights)) {
      note = "missing weights: run " + script_path("download_vgg16_weights.sh");
    }
    if (row.note.find(note) == std::string::npos) {
      row.note += (row.note.empty() ? "" : "; ") + note;
    }
    return;
  }
  // The same settings and seed again (a rerun, a copied folder): one sample, counted once.
  if (run.seed) {
    for (const SeedResult& counted : row.seeds) {
      if (counted.seed == run.seed) {
        row.duplicates.push_back({run.dir, counted.dir, *run.seed});
        return;
      }
    }
  }
  if (run.identity) {
    const std::string& fingerprint = run.identity->fingerprint;
    if (std::find(row.fingerprints.begin(), row.fingerprints.end(), fingerprint) ==
        row.fingerprints.end()) {
      row.fingerprints.push_back(fingerprint);
    }
    if (row.fingerprints.size() > 1) row.data_files_differ = true;
  }
  merge_cell(row.selected_on, s.selected_on.value_or("none"));
  ++row.runs;
  row.epochs = s.epochs;
  row.trainable_params = s.trainable_params;
  row.frozen_params = s.frozen_params;
  SummaryResults no_results;
  no_results.test_error = 1;
  const SummaryResults results = s.results.value_or(no_results);
  figures.accuracy.push_back(results.test_accuracy);
  row.seeds.push_back({run.dir, run.seed, results.test_accuracy});
  figures.error.push_back(results.test_error);
  figures.seconds.push_back(s.train_seconds.value_or(0.0));
  figures.speed.push_back(results.images_per_second);
  figures.epochs.push_back(double(s.epochs_completed));
  // The best epoch's validation accuracy, as summary.json defines the best epoch (not the
  // highest val_accuracy of any epoch: with early stopping on val_loss they differ). Runs
  // without validation have none.
  if (s.results && !std::isnan(s.results->best_val_accuracy)) {
    figures.best.push_back(s.results->best_val_accuracy);
  }
}

// The notes a row's pooling adds: duplicates, data files, selection on the test split.
void add_pooling_notes(ComparisonRow& row) {
  const auto add = [&](const std::string& note) {
    row.note += (row.note.empty() ? "" : "; ") + note;
  };
  if (!row.duplicates.empty()) {
    std::string list;
    for (const DuplicateRun& d : row.duplicates) {
      list += (list.empty() ? "" : ", ") + d.dir + " (seed " + std::to_string(d.seed) + ", as " +
              d.counted + ")";
    }
    add(std::to_string(row.duplicates.size()) +
        " duplicate run(s) of a counted seed left out: " + list);
  }
  if (row.data_files_differ) add("runs read data files with different checksums");
  if (row.selected_on == "test") add("model selected on the test split");
  if (row.selected_on == "mixed") add("some runs selected the model on the test split");
}

// A row's identity key: its name and settings ("" when unknown).
using RowKey = std::pair<std::string, std::string>;

// A run without a readable config.json (damaged, killed before writing it) cannot say what it
// computed: it joins its name's row when the name has one set of settings, else a row of its own.
RowKey row_key(const RunRecord& run,
               const std::map<std::string, std::set<std::string>>& settings_of_name) {
  if (run.identity) return {run.name, run.identity->settings_fingerprint};
  const auto known = settings_of_name.find(run.name);
  if (known != settings_of_name.end() && known->second.size() == 1)
    return {run.name, *known->second.begin()};
  return {run.name, ""};
}

// Rows of one name with different settings: each labelled with its values of the keys in which
// it differs from the others.
void label_variants(std::vector<ComparisonRow>& rows,
                    const std::map<RowKey, std::vector<const RunRecord*>>& groups) {
  const auto identity_of = [&](const ComparisonRow& row) -> const RunIdentity* {
    for (const RunRecord* run : groups.at({row.name, row.settings_fingerprint}))
      if (run->identity) return &*run->identity;
    return nullptr;
  };
  for (auto& row : rows) {
    const RunIdentity* mine = identity_of(row);
    std::vector<std::string> keys;
    bool shared = false;
    for (const auto& other : rows) {
      if (&other == &row || other.name != row.name) continue;
      shared = true;
      const RunIdentity* theirs = identity_of(other);
      if (!mine || !theirs) continue;
      for (const auto& key : identity_differences(*mine, *theirs)) {
        if (key != "data files" && std::find(keys.begin(), keys.end(), key) == keys.end())
          keys.push_back(key);
      }
    }
    if (!shared) continue;
    std::sort(keys.begin(), keys.end());
    row.variant = mine ? describe_keys(*mine, keys) : "settings unknown";
  }
}

}  // namespace

std::vector<ComparisonRow> compare_runs(const std::vector<RunRecord>& runs,
                                        const CompareOptions& options) {
  std::map<std::string, std::set<std::string>> settings_of_name;
  for (const auto& run : runs)
    if (run.identity) settings_of_name[run.name].insert(run.identity->settings_fingerprint);
  std::vector<RowKey> order;
  std::map<RowKey, std::vector<const RunRecord*>> groups;
  for (const auto& run : runs) {
    const RowKey key = row_key(run, settings_of_name);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&run);
  }
  std::vector<ComparisonRow> rows;
  for (const auto& key : order) {
    ComparisonRow row;
    row.name = key.first;
    row.settings_fingerprint = key.second;
    RunFigures figures;
    for (const RunRecord* run : groups[key]) add_run(row, figures, *run);
    if (row.incomplete > 0 && row.note.empty()) row.note = "incomplete";
    add_pooling_notes(row);
    for (const auto& [grid_key, text] : RunName::parse(key.first).grid)
      row.grid.emplace_back(grid_key, grid_value(grid_key, text, groups[key]));
    row.test_accuracy = mean_std(figures.accuracy);
    row.test_error = mean_std(figures.error);
    row.best_val_accuracy = mean_std(figures.best);
    row.train_seconds = mean_std(figures.seconds);
    row.images_per_second = mean_std(figures.speed);
    row.epochs_run = mean_std(figures.epochs);
    rows.push_back(row);
  }
  label_variants(rows, groups);
  order_grid_points(rows);
  order_by_sweep(rows, options.order);
  compare_with_baseline(rows, options);
  return rows;
}

namespace {

json seeds_json(const ComparisonRow& r) {
  json seeds = json::array();
  for (const SeedResult& s : r.seeds) {
    seeds.push_back({{"dir", s.dir},
                     {"seed", s.seed ? json(*s.seed) : json(nullptr)},
                     {"test_accuracy", s.test_accuracy}});
  }
  return seeds;
}

// One column of the table in all three formats, so that a new column is one entry of kColumns.
// The grid keys' columns, which depend on the rows, come after the first.
struct Column {
  std::string markdown;          // header; "" when the column is not in the markdown table
  bool numeric;                  // right-aligned in markdown
  std::vector<std::string> csv;  // headers of the column's CSV cells; {} when not in CSV
  std::string json_key;          // key in JSON rows; "" when not in JSON
  std::function<std::string(const ComparisonRow&)> text;                // markdown cell
  std::function<std::vector<std::string>(const ComparisonRow&)> cells;  // CSV cells, unescaped
  std::function<json(const ComparisonRow&)> value;                      // JSON value
};

using Getter = std::function<std::string(const ComparisonRow&)>;

std::string dash_if_empty(const std::string& text) { return text.empty() ? "-" : text; }

// Text: "-" in markdown when empty; JSON null when empty if `null_when_empty`.
Column text_column(std::string header, std::string name, Getter get, bool null_when_empty = false) {
  return {header,
          false,
          {name},
          name,
          [get](const ComparisonRow& r) { return dash_if_empty(get(r)); },
          [get](const ComparisonRow& r) { return std::vector<std::string>{get(r)}; },
          [get, null_when_empty](const ComparisonRow& r) {
            const std::string text = get(r);
            return null_when_empty && text.empty() ? json(nullptr) : json(text);
          }};
}

// A count the runs agree on: "-" in markdown for a row without completed runs.
Column count_column(std::string header, std::string name, int64_t ComparisonRow::*member) {
  return {header,
          true,
          {name},
          name,
          [member](const ComparisonRow& r) {
            return r.runs ? std::to_string(r.*member) : std::string("-");
          },
          [member](const ComparisonRow& r) {
            return std::vector<std::string>{std::to_string(r.*member)};
          },
          [member](const ComparisonRow& r) { return json(r.*member); }};
}

// A statistic over the row's runs: markdown as `text` shows it, CSV NAME_mean and NAME_std
// (fractions and seconds as they are, 6 decimals), JSON {mean, std, n} or null.
Column stat_column(std::string header, std::string name, Stat ComparisonRow::*member,
                   std::function<std::string(const Stat&)> text) {
  return {header,
          true,
          {name + "_mean", name + "_std"},
          name,
          [member, text](const ComparisonRow& r) { return text(r.*member); },
          [member](const ComparisonRow& r) {
            const Stat& s = r.*member;
            if (s.n == 0) return std::vector<std::string>(2);
            return std::vector<std::string>{fixed(s.mean, 6), fixed(s.std, 6)};
          },
          [member](const ComparisonRow& r) { return stat_json(r.*member); }};
}

std::function<std::string(const Stat&)> mean_with(int decimals) {
  return [decimals](const Stat& s) { return s.n ? fixed(s.mean, decimals) : std::string("-"); };
}

// What a row is: its configuration and what it trained, and how many runs it pools.
std::vector<Column> row_columns() {
  return {
      {"configuration",
       false,
       {"configuration"},
       "configuration",
       [](auto& r) { return r.label(); },
       [](auto& r) { return std::vector<std::string>{r.name}; },
       [](auto& r) { return json(r.name); }},
      text_column("model", "model", [](auto& r) { return r.model; }),
      {"augmentation",
       false,
       {"augmentation"},
       "augmentation",
       [](auto& r) { return std::string(r.augmentation ? "yes" : "no"); },
       [](auto& r) { return std::vector<std::string>{r.augmentation ? "true" : "false"}; },
       [](auto& r) { return json(r.augmentation); }},
      text_column("transfer", "transfer", [](auto& r) { return r.transfer; }),
      count_column("epochs", "epochs", &ComparisonRow::epochs),
      {"runs",
       true,
       {"runs"},
       "runs",
       [](auto& r) {
         std::string runs = std::to_string(r.runs);
         if (r.incomplete) runs += " (+" + std::to_string(r.incomplete) + " incomplete)";
         return runs;
       },
       [](auto& r) { return std::vector<std::string>{std::to_string(r.runs)}; },
       [](auto& r) { return json(r.runs); }},
      {"",
       false,
       {"incomplete"},
       "incomplete",
       nullptr,
       [](auto& r) { return std::vector<std::string>{std::to_string(r.incomplete)}; },
       [](auto& r) { return json(r.incomplete); }},
  };
}

// What the row's runs measured and how that compares with the baseline; its seeds, duplicates.
std::vector<Column> result_columns() {
  return {
      stat_column("test accuracy", "test_accuracy", &ComparisonRow::test_accuracy, pct),
      stat_column("test error", "test_error", &ComparisonRow::test_error, pct),
      stat_column("best val accuracy", "best_val_accuracy", &ComparisonRow::best_val_accuracy, pct),
      text_column(
          "validation", "validation", [](auto& r) { return r.validation; }, true),
      text_column(
          "optimizer", "optimizer", [](auto& r) { return r.optimizer; }, true),
      text_column(
          "lr schedule", "lr_schedule", [](auto& r) { return r.lr_schedule; }, true),
      text_column(
          "early stopping", "early_stopping", [](auto& r) { return r.early_stopping; }, true),
      stat_column("epochs run", "epochs_run", &ComparisonRow::epochs_run, mean_with(1)),
      stat_column("train time (s)", "train_seconds", &ComparisonRow::train_seconds, mean_with(1)),
      stat_column("images/s", "images_per_second", &ComparisonRow::images_per_second, mean_with(0)),
      count_column("trainable params", "trainable_params", &ComparisonRow::trainable_params),
      count_column("frozen params", "frozen_params", &ComparisonRow::frozen_params),
      {"notebook accuracy",
       true,
       {"reference_accuracy"},
       "reference_accuracy",
       [](auto& r) {
         return r.reference_accuracy ? fixed(100 * *r.reference_accuracy, 2) + "%" : "-";
       },
       [](auto& r) {
         return std::vector<std::string>{r.reference_accuracy ? fixed(*r.reference_accuracy, 4)
                                                              : ""};
       },
       [](auto& r) { return r.reference_accuracy ? json(*r.reference_accuracy) : json(nullptr); }},
      {"notes",
       false,
       {"notes"},
       "notes",
       [](auto& r) { return r.note; },
       [](auto& r) { return std::vector<std::string>{r.note}; },
       [](auto& r) { return json(r.note); }},
      {"vs baseline",
       false,
       {"baseline", "difference_vs_baseline", "difference_ci95_low", "difference_ci95_high",
        "p_value", "welch_df", "significant"},
       "vs_baseline",
       vs_baseline_text,
       vs_baseline_cells,
       vs_baseline_json},
      {"", false, {}, "seeds", nullptr, nullptr, seeds_json},
      {"",
       false,
       {"duplicates"},
       "duplicates",
       nullptr,
       [](auto& r) { return std::vector<std::string>{std::to_string(r.duplicates.size())}; },
       [](auto& r) {
         json list = json::array();
         for (const DuplicateRun& d : r.duplicates)
           list.push_back({{"dir", d.dir}, {"seed", d.seed}, {"counted", d.counted}});
         return list;
       }},
  };
}

// The row's identity: which settings (and which of them set it apart from rows of the same
// name), which fingerprints, and what the test split chose.
std::vector<Column> identity_columns() {
  return {
      {"",
       false,
       {"variant"},
       "variant",
       nullptr,
       [](auto& r) { return std::vector<std::string>{r.variant}; },
       [](auto& r) { return json(r.variant); }},
      {"", false, {}, "label", nullptr, nullptr, [](auto& r) { return json(r.label()); }},
      {"",
       false,
       {"settings_fingerprint"},
       "settings_fingerprint",
       nullptr,
       [](auto& r) { return std::vector<std::string>{r.settings_fingerprint}; },
       [](auto& r) {
         return r.settings_fingerprint.empty() ? json(nullptr) : json(r.settings_fingerprint);
       }},
      {"",
       false,
       {},
       "fingerprint",
       nullptr,
       nullptr,
       [](auto& r) {
         return r.fingerprints.size() == 1 ? json(r.fingerprints.front()) : json(nullptr);
       }},
      {"",
       false,
       {},
       "fingerprints",
       nullptr,
       nullptr,
       [](auto& r) { return json(r.fingerprints); }},
      {"",
       false,
       {"selected_on"},
       "selected_on",
       nullptr,
       [](auto& r) { return std::vector<std::string>{r.selected_on}; },
       [](auto& r) { return r.selected_on.empty() ? json(nullptr) : json(r.selected_on); }},
      {"",
       false,
       {},
       "distinct_seeds",
       nullptr,
       nullptr,
       [](auto& r) {
         json seeds = json::array();
         for (const SeedResult& s : r.seeds)
           if (s.seed) seeds.push_back(*s.seed);
         return seeds;
       }},
      {"",
       false,
       {},
       "incomplete_runs",
       nullptr,
       nullptr,
       [](auto& r) { return json(r.incomplete_dirs); }},
  };
}

// Every column in table order: kColumns is the three parts above, joined once.
const std::vector<Column>& columns() {
  static const std::vector<Column> kColumns = [] {
    std::vector<Column> all = row_columns();
    for (auto part : {result_columns(), identity_columns()})
      all.insert(all.end(), part.begin(), part.end());
    return all;
  }();
  return kColumns;
}

std::string grid_cell(const ComparisonRow& row, const std::string& key) {
  const json* value = find_grid_value(row, key);
  return value ? grid_text(*value) : "";
}

}  // namespace

namespace {

// What a table shows: its columns, and lines above it (settings every row shares) and below it
// (each row's notes; what the notebook column is).
struct TableView {
  std::vector<std::string> headers;
  std::vector<bool> numeric;
  std::vector<Getter> cells;
  std::vector<std::string> above, below;
  void add(std::string header, bool is_numeric, Getter cell) {
    headers.push_back(std::move(header));
    numeric.push_back(is_numeric);
    cells.push_back(std::move(cell));
  }
};

const Column* column_named(const std::string& name) {
  for (const Column& column : columns())
    if (column.json_key == name && column.text) return &column;
  return nullptr;
}

// A setting that describes a row, as the default view folds it: `setup` is its short form in the
// setup column ("" to leave it out there), `shared` its form in the line above the table.
struct Setting {
  std::string name;
  Getter value, setup;
};

std::string short_model(const std::string& model) {
  return model == "vgg16_transfer" ? "vgg16" : model;
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = {
      {"model", [](auto& r) { return r.model; }, [](auto& r) { return short_model(r.model); }},
      {"transfer", [](auto& r) { return r.transfer; },
       [](auto& r) { return r.transfer == "none" ? std::string() : r.transfer; }},
      {"augmentation", [](auto& r) { return std::string(r.augmentation ? "yes" : "no"); },
       [](auto& r) { return std::string(r.augmentation ? "aug" : "no aug"); }},
      {"epochs", [](auto& r) { return std::to_string(r.epochs); },
       [](auto& r) { return std::to_string(r.epochs) + " epochs"; }},
      {"validation", [](auto& r) { return dash_if_empty(r.validation); },
       [](auto& r) { return "val " + dash_if_empty(r.validation); }},
      {"optimizer", [](auto& r) { return dash_if_empty(r.optimizer); },
       [](auto& r) { return dash_if_empty(r.optimizer); }},
      {"lr schedule", [](auto& r) { return dash_if_empty(r.lr_schedule); },
       [](auto& r) { return "lr " + dash_if_empty(r.lr_schedule); }},
      {"early stopping", [](auto& r) { return dash_if_empty(r.early_stopping); },
       [](auto& r) { return "early stop " + dash_if_empty(r.early_stopping); }},
  };
  return kSettings;
}

// The difference from the baseline, short: "−1.9 [−3.1, −0.6] p=0.012"; "+1.2 (1 vs 2 seeds)"
// where there is no interval.
std::string compact_vs_baseline(const ComparisonRow& row) {
  if (!row.vs_baseline) return "-";
  const BaselineComparison& c = *row.vs_baseline;
  if (c.is_baseline) return "baseline";
  auto points = [](double fraction) {
    const std::string digits = fixed(std::fabs(100 * fraction), 1);
    return (fraction < 0 && digits != "0.0" ? "\u2212" : "+") + digits;
  };
  if (!c.welch) {
    return points(c.difference) + " (" + std::to_string(c.seeds) + " vs " +
           std::to_string(c.baseline_seeds) + " seeds)";
  }
  std::string p = p_text(c.welch->p_value);
  p.erase(std::remove(p.begin(), p.end(), ' '), p.end());
  return points(c.difference) + " [" + points(c.welch->ci_low) + ", " + points(c.welch->ci_high) +
         "] " + p;
}

// The question's columns: configuration, what varies between rows (grid keys; the settings that
// differ, folded into `setup`), seeds, test accuracy, vs baseline, the notebook's figure; settings
// every row shares go above the table, notes below it.
TableView default_view(const std::vector<ComparisonRow>& rows) {
  TableView view;
  view.add("configuration", false, [](auto& r) { return r.label(); });
  for (const auto& key : grid_keys(rows))
    view.add(key, false, [key](auto& r) { return dash_if_empty(grid_cell(r, key)); });
  std::vector<const Setting*> varying;
  std::string shared;
  for (const Setting& setting : settings()) {
    bool differs = false;
    for (const auto& r : rows) differs = differs || setting.value(r) != setting.value(rows.front());
    if (differs) {
      varying.push_back(&setting);
    } else if (!rows.empty()) {
      shared += (shared.empty() ? "" : ", ") + setting.name + " " + setting.value(rows.front());
    }
  }
  if (!varying.empty()) {
    view.add("setup", false, [varying](auto& r) {
      std::string text;
      for (const Setting* setting : varying) {
        const std::string piece = setting->setup(r);
        if (!piece.empty()) text += (text.empty() ? "" : ", ") + piece;
      }
      return dash_if_empty(text);
    });
  }
  if (!shared.empty()) view.above.push_back("Every row: " + shared + ".");
  view.add("seeds", true, column_named("runs")->text);
  view.add("test acc (%)", true, [](auto& r) {
    const Stat& s = r.test_accuracy;
    if (s.n == 0) return std::string("-");
    return fixed(100 * s.mean, 2) + (s.n > 1 ? " ± " + fixed(100 * s.std, 2) : "");
  });
  view.add("vs baseline (pp, 95% CI)", false, compact_vs_baseline);
  const bool any_reference = std::any_of(rows.begin(), rows.end(),
                                         [](auto& r) { return r.reference_accuracy.has_value(); });
  if (any_reference) {
    view.add("notebook†", true, [](auto& r) {
      return r.reference_accuracy ? fixed(100 * *r.reference_accuracy, 2) : std::string("-");
    });
    view.below.push_back(
        "† notebook: the Keras notebook's test accuracy for the configuration (10 epochs on "
        "all 50,000 training images, one run), comparable only with runs of those settings.");
  }
  if (std::any_of(rows.begin(), rows.end(), [](auto& r) {
        return r.vs_baseline && !r.vs_baseline->is_baseline && !r.vs_baseline->welch;
      })) {
    view.below.push_back(
        "vs baseline \"(n vs m seeds)\": no interval or p-value, which need 2+ distinct seeds on "
        "each side.");
  }
  for (const auto& r : rows)
    if (!r.note.empty()) view.below.push_back(r.label() + ": " + r.note);
  return view;
}

// Every column of the markdown table, the grid keys after the configuration.
TableView all_view(const std::vector<ComparisonRow>& rows) {
  TableView view;
  const auto keys = grid_keys(rows);
  for (size_t i = 0; i < columns().size(); ++i) {
    const Column& column = columns()[i];
    if (!column.markdown.empty()) view.add(column.markdown, column.numeric, column.text);
    if (i > 0) continue;
    for (const auto& key : keys)
      view.add(key, false, [key](auto& r) { return dash_if_empty(grid_cell(r, key)); });
  }
  return view;
}

TableView table_view(const std::vector<ComparisonRow>& rows, const std::string& spec) {
  if (spec == "default") return default_view(rows);
  if (spec == "all") return all_view(rows);
  TableView view;
  const auto keys = grid_keys(rows);
  std::stringstream list(spec);
  for (std::string name; std::getline(list, name, ',');) {
    if (std::find(keys.begin(), keys.end(), name) != keys.end()) {
      view.add(name, false, [name](auto& r) { return dash_if_empty(grid_cell(r, name)); });
    } else if (const Column* column = column_named(name)) {
      view.add(column->markdown, column->numeric, column->text);
    } else {
      std::string names;
      for (const auto& known : column_names()) names += (names.empty() ? "" : ", ") + known;
      throw ConfigError("--columns " + spec + ": no column '" + name +
                        "' (default, all, or a comma list of: " + names + ", or a grid key)");
    }
  }
  if (view.headers.empty()) throw ConfigError("--columns: empty list");
  return view;
}

// The terminal width the text table's lines above and below are wrapped to.
constexpr size_t kTextWidth = 100;

// Characters as a terminal shows them: UTF-8 code points ("±" and "−" are one each).
size_t display_width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

// `text` broken at spaces into lines of at most `width` characters (a longer word stays whole).
std::string wrapped(const std::string& text, size_t width) {
  std::string out, line;
  std::stringstream words(text);
  for (std::string word; words >> word;) {
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line + "\n";
}

std::string padded(const std::string& text, size_t width, bool right) {
  const std::string pad(width - std::min(width, display_width(text)), ' ');
  return right ? pad + text : text + pad;
}

}  // namespace

std::vector<std::string> column_names() {
  std::vector<std::string> names;
  for (const Column& column : columns())
    if (column.text && !column.json_key.empty()) names.push_back(column.json_key);
  return names;
}

std::string format_markdown(const std::vector<ComparisonRow>& rows, const std::string& columns) {
  const TableView view = table_view(rows, columns);
  auto line = [](const std::vector<std::string>& items) {
    std::string text = "|";
    for (const auto& item : items) text += " " + item + " |";
    return text + "\n";
  };
  std::string text;
  for (const auto& above : view.above) text += above + "\n\n";
  text += line(view.headers) + "|";
  for (bool numeric : view.numeric) text += numeric ? "---:|" : "---|";
  text += "\n";
  for (const auto& r : rows) {
    std::vector<std::string> row;
    for (const auto& cell : view.cells) row.push_back(cell(r));
    text += line(row);
  }
  for (const auto& below : view.below) text += "\n" + below + "\n";
  return text;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_html(const std::vector<ComparisonRow>& rows, const std::string& columns) {
  const TableView view = table_view(rows, columns);
  std::string text;
  for (const auto& above : view.above) text += "<p>" + html_escape(above) + "</p>\n";
  text += "<div class=\"scroll\"><table>\n<thead><tr>";
  for (size_t i = 0; i < view.headers.size(); ++i) {
    text += std::string(view.numeric[i] ? "<th class=\"num\">" : "<th>") +
            html_escape(view.headers[i]) + "</th>";
  }
  text += "</tr></thead>\n<tbody>\n";
  for (const auto& r : rows) {
    text += "<tr>";
    for (size_t i = 0; i < view.cells.size(); ++i) {
      text += std::string(view.numeric[i] ? "<td class=\"num\">" : "<td>") +
              html_escape(view.cells[i](r)) + "</td>";
    }
    text += "</tr>\n";
  }
  text += "</tbody></table></div>\n";
  for (const auto& below : view.below) text += "<p class=\"note\">" + html_escape(below) + "</p>\n";
  return text;
}

std::string format_text(const std::vector<ComparisonRow>& rows, const std::string& columns) {
  const TableView view = table_view(rows, columns);
  std::vector<std::vector<std::string>> cells{view.headers};
  for (const auto& r : rows) {
    cells.emplace_back();
    for (const auto& cell : view.cells) cells.back().push_back(cell(r));
  }
  std::vector<size_t> widths(view.headers.size(), 0);
  for (const auto& line : cells)
    for (size_t i = 0; i < line.size(); ++i)
      widths[i] = std::max(widths[i], display_width(line[i]));
  std::string text;
  for (const auto& above : view.above) text += wrapped(above, kTextWidth);
  for (size_t l = 0; l < cells.size(); ++l) {
    std::string line;
    for (size_t i = 0; i < cells[l].size(); ++i) {
      const bool last = i + 1 == cells[l].size();
      line += (i ? "  " : "") + (last && !view.numeric[i]
                                     ? cells[l][i]
                                     : padded(cells[l][i], widths[i], view.numeric[i]));
    }
    text += line + "\n";
    if (l == 0) {
      std::string rule;
      for (size_t i = 0; i < widths.size(); ++i)
        rule += (i ? "  " : "") + std::string(widths[i], '-');
      text += rule + "\n";
    }
  }
  for (const auto& below : view.below) text += wrapped(below, kTextWidth);
  return text;
}

std::string format_csv(const std::vector<ComparisonRow>& rows) {
  const auto keys = grid_keys(rows);
  auto line = [](const std::vector<std::string>& items) {
    std::string text;
    for (size_t i = 0; i < items.size(); ++i) text += (i ? "," : "") + csv_escape(items[i]);
    return text + "\n";
  };
  std::vector<std::string> headers;
  for (size_t i = 0; i < columns().size(); ++i) {
    headers.insert(headers.end(), columns()[i].csv.begin(), columns()[i].csv.end());
    if (i == 0) headers.insert(headers.end(), keys.begin(), keys.end());
  }
  std::string text = line(headers);
  for (const auto& r : rows) {
    std::vector<std::string> cells;
    for (size_t i = 0; i < columns().size(); ++i) {
      if (!columns()[i].csv.empty()) {
        const auto column_cells = columns()[i].cells(r);
        cells.insert(cells.end(), column_cells.begin(), column_cells.end());
      }
      if (i > 0) continue;
      for (const auto& key : keys) cells.push_back(grid_cell(r, key));
    }
    text += line(cells);
  }
  return text;
}

json to_json(const std::vector<ComparisonRow>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    json row = json::object();
    for (size_t i = 0; i < columns().size(); ++i) {
      if (!columns()[i].json_key.empty()) row[columns()[i].json_key] = columns()[i].value(r);
      if (i > 0) continue;
      // The grid point in the order of the run name's keys (a JSON object would sort them).
      json grid = json::array();
      for (const auto& [key, value] : r.grid) grid.push_back({{"key", key}, {"value", value}});
      row["base"] = configuration_of(r);
      row["grid"] = grid;
    }
    out.push_back(row);
  }
  return out;
}

std::string no_run_folders_message(const std::vector<std::string>& paths) {
  std::string named;
  for (const auto& path : paths) named += (named.empty() ? "" : ", ") + path;
  return named + ": no run folders there";
}

std::string comparison_text(const std::vector<std::string>& paths, const std::string& format,
                            CompareOptions options, std::vector<RunRecord>* damaged) {
  const auto runs = find_runs(paths);
  if (damaged) {
    for (const RunRecord& run : runs)
      if (run.status == "damaged") damaged->push_back(run);
  }
  // A listing may be empty (a sweep's new folder); a table of nothing is a mistake.
  if (runs.empty()) {
    throw ConfigError(no_run_folders_message(paths) +
                      " (a run folder holds summary.json, config.json, metrics.csv or "
                      "failure.json)");
  }
  options.order = read_sweep_order(paths);
  const auto rows = compare_runs(runs, options);
  if (format == "csv") return format_csv(rows);
  if (format == "json") return json_text(to_json(rows), 2) + "\n";
  if (format == "markdown") return format_markdown(rows, options.columns);
  return format_text(rows, options.columns);
}

}  // namespace cifar_exp
