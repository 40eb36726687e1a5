// Finding and reading run folders, and `compare --runs` (run_records.h).
#include "cifar_exp/records/run_records.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using nlohmann::json;

bool is_run_folder(const fs::path& dir) {
  for (const std::string& f : RunFolder::marker_files()) {
    if (fs::is_regular_file(dir / f)) return true;
  }
  return false;
}

// A run folder's JSON file: nullopt when it is absent, or unparseable (`problem` says so: a run
// killed mid-write by an older version); OutputError when it is there but not a regular file.
std::optional<json> try_read_json(const fs::path& file, std::string& problem) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  if (!fs::is_regular_file(file, ec)) throw OutputError(file.string() + ": not a regular file");
  auto doc = try_parse_json(read_file(file.string()));
  if (!doc) problem = file.filename().string() + " unreadable";
  return doc;
}

// What a run that could not start would have been: its config with the sweep's --set values.
void describe_failed_run(RunRecord& run, const json& failure) {
  const std::string file = RunFolder(run.dir).failure();
  ConfigOverrides overrides;
  overrides.set = schema::strings_field(failure, "set", file).value_or(std::vector<std::string>{});
  const auto config_path = schema::string_field(failure, "config", file);
  if (!config_path) return;
  try {
    const auto config = load_config(*config_path, overrides);
    run.config = to_json(config);
    run.summary.model = to_string(config.model.type);
    run.summary.augmentation = config.augmentation.enabled;
    run.summary.transfer = transfer_kind(config.model);
    run.summary.reference_accuracy = config.reference_accuracy;
  } catch (const Error&) {
    // The config itself may be what failed; the row then shows what is known.
  }
}

// A run folder's epochs: metrics.jsonl's lines when the folder has one (a damaged line left
// out), else metrics.csv's rows read by the names in its header; none when neither is there.
std::vector<EpochMetrics> read_epochs(const fs::path& dir) {
  std::vector<EpochMetrics> epochs;
  std::error_code ec;
  const RunFolder folder(dir.string());
  for (const std::string& file : {folder.metrics_jsonl(), folder.metrics_csv()}) {
    if (fs::exists(file, ec) && !fs::is_regular_file(file, ec)) {
      throw OutputError(file + ": not a regular file");
    }
  }
  if (fs::is_regular_file(folder.metrics_jsonl(), ec)) {
    std::istringstream in(read_file(folder.metrics_jsonl()));
    for (std::string line; std::getline(in, line);) {
      const auto row = try_parse_json(line);
      if (row && row->is_object()) epochs.push_back(EpochMetrics::from_json(*row));
    }
    return epochs;
  }
  if (!fs::is_regular_file(folder.metrics_csv(), ec)) return epochs;
  return EpochMetrics::from_csv(read_file(folder.metrics_csv()));
}

void read_summary_file(RunRecord& run, const json& doc) {
  run.has_summary_file = true;
  run.summary = RunSummary::from_json(doc, RunFolder(run.dir).summary());
  run.name = run.summary.name;
  run.status = run.summary.status;
  if (doc.is_object() && doc.contains("seed") && doc["seed"].is_number())
    run.seed = run.summary.seed;
  // "running" in the summary of a process that is gone: the run crashed.
  if (run.status == "running" && !process_alive(run.summary.process).value_or(true)) {
    run.status = "crashed";
  }
  if (!run.complete()) run.problem = run.status;
  if (run.status == "failed" && run.summary.error) run.problem = "failed: " + *run.summary.error;
}

// failure.json, which a sweep writes for a run that failed (sweep_runner.cpp).
void read_failure_file(RunRecord& run, const json& failure) {
  const std::string file = RunFolder(run.dir).failure();
  run.has_failure_file = true;
  run.summary.name = schema::string_field(failure, "name", file).value_or("");
  run.summary.status = "failed";
  run.name = run.summary.name;
  run.status = "failed";
  run.problem = schema::string_field(failure, "error", file).value_or("failed");
  run.summary.error = run.problem;
  const auto exit_code = schema::integer_field(failure, "exit_code", file);
  if (exit_code && *exit_code >= 0 && *exit_code <= 255) run.failure_exit_code = int(*exit_code);
  run.seed = schema::integer_field(failure, "seed", file);
  // What the run would have been, from its config, so the table row says what is missing.
  describe_failed_run(run, failure);
}

// The run's files as they are; OutputError for a file of the wrong kind or with a field of the
// wrong type (read_run lists such a run as damaged).
void read_run_files(RunRecord& run, const fs::path& dir);

RunRecord read_run(const fs::path& dir) {
  RunRecord run;
  run.dir = dir.string();
  try {
    read_run_files(run, dir);
  } catch (const Error& e) {
    // One damaged folder must not hide the others: listed with its file and field, never
    // counted (compare exits 10 after its table).
    const std::string name = run.name;
    run = RunRecord{};
    run.dir = dir.string();
    run.name = name.empty() ? SweepFolder::name_of_run_folder(dir.filename().string()) : name;
    run.status = "damaged";
    run.problem = "damaged: " + first_line(e.what());
  }
  return run;
}

void read_run_files(RunRecord& run, const fs::path& dir) {
  std::string problem;
  const RunFolder folder(run.dir);
  auto summary = try_read_json(folder.summary(), problem);
  if (summary && !summary->is_object()) problem = "summary.json unreadable";
  if (summary && summary->is_object()) {
    read_summary_file(run, *summary);
  } else if (auto failure = try_read_json(folder.failure(), problem);
             failure && failure->is_object()) {
    read_failure_file(run, *failure);
  } else {
    run.status = "incomplete";
    run.problem = problem.empty() ? "no summary.json" : problem;
  }
  if (auto config = try_read_json(folder.config(), problem); config && config->is_object()) {
    const std::string file = folder.config();
    run.config = *config;
    if (run.name.empty()) run.name = schema::string_field(*config, "name", file).value_or("");
    if (const auto training = schema::object_field(*config, "training", file);
        training && !run.seed) {
      run.seed = schema::integer_field(*training, "seed", file + ": training");
    }
  }
  if (run.name.empty()) run.name = SweepFolder::name_of_run_folder(dir.filename().string());
  if (run.config.is_object()) {
    const json& provenance = run.summary.provenance;
    const json data_files = provenance.is_object() && provenance.contains("data_files")
                                ? provenance["data_files"]
                                : json(nullptr);
    run.identity = RunIdentity::of_config_json(run.config, data_files);
  }
  run.epochs = read_epochs(dir);
}

// What `compare --runs --format json` adds to a run's entry: its summary and config (null when
// missing or unreadable) and its epochs.
std::string dash(const std::string& text) { return text.empty() ? "-" : text; }

json run_files_json(const RunRecord& run) {
  json epochs = json::array();
  for (const EpochMetrics& m : run.epochs) epochs.push_back(m.to_json());
  return {{"summary", run.has_summary_file ? run.summary.to_json() : json(nullptr)},
          {"config", run.config.is_object() ? run.config : json(nullptr)},
          {"epochs", epochs}};
}

}  // namespace

std::vector<RunRecord> find_runs(const std::vector<std::string>& paths) {
  std::vector<RunRecord> runs;
  // A run reached twice (`compare DIR DIR/RUN`, a symlink, "runs/" and "./runs") counts once:
  // counted twice it would inflate n in the statistics.
  std::set<std::string> seen;
  const auto add = [&](const fs::path& dir) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(dir, ec);
    if (seen.insert(ec ? dir.lexically_normal().string() : canonical.string()).second) {
      runs.push_back(read_run(dir));
    }
  };
  for (const auto& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) throw ConfigError(path + ": no such run folder");
    if (is_run_folder(path)) {
      add(path);
      continue;
    }
    std::vector<fs::path> children;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_directory() && is_run_folder(entry.path())) children.push_back(entry.path());
    }
    std::sort(children.begin(), children.end());
    for (const auto& child : children) add(child);
  }
  return runs;
}

void check_not_damaged(const std::vector<RunRecord>& runs) {
  std::string list;
  int64_t count = 0;
  for (const RunRecord& run : runs) {
    if (run.status != "damaged") continue;
    ++count;
    if (count <= 3) list += (list.empty() ? "" : "; ") + run.problem.substr(9);  // "damaged: "
  }
  if (count == 0) return;
  if (count > 3) list += "; and " + std::to_string(count - 3) + " more";
  throw Error(ExitCode::kDamagedRuns,
              std::to_string(count) + " damaged run folder(s) listed but left out: " + list);
}

std::string format_runs(const std::vector<RunRecord>& runs, const std::string& format) {
  auto seed_of = [](const RunRecord& r) -> std::string {
    return r.seed ? std::to_string(*r.seed) : "";
  };
  auto fingerprint_of = [](const RunRecord& r) -> std::string {
    return r.identity ? r.identity->fingerprint : "";
  };
  if (format == "json") {
    json list = json::array();
    for (const auto& r : runs) {
      json entry = {{"dir", r.dir},
                    {"name", r.name},
                    {"seed", r.seed ? json(*r.seed) : json(nullptr)},
                    {"status", r.status},
                    {"fingerprint", r.identity ? json(r.identity->fingerprint) : json(nullptr)},
                    {"problem", r.problem}};
      entry.update(run_files_json(r));
      list.push_back(entry);
    }
    // A folder name need not be UTF-8: its bytes are replaced rather than refused.
    return json_text(list, 2) + "\n";
  }
  std::ostringstream out;
  if (format == "csv") {
    out << "dir,name,seed,status,fingerprint\n";
    for (const auto& r : runs) {
      out << r.dir << ',' << r.name << ',' << seed_of(r) << ',' << r.status << ','
          << fingerprint_of(r) << '\n';
    }
    return out.str();
  }
  out << "| run folder | name | seed | status | fingerprint |\n|---|---|---:|---|---|\n";
  for (const auto& r : runs) {
    out << "| " << r.dir << " | " << r.name << " | " << seed_of(r) << " | " << r.status << " | "
        << dash(fingerprint_of(r)) << " |\n";
  }
  return out.str();
}

}  // namespace cifar_exp
