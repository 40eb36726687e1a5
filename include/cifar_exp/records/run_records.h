// One run folder as compare and the scripts see it: found on disk (a run folder, or a folder of
// them), read through the run schema (run_summary.h), and listed by `compare --runs`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/records/run_identity.h"
#include "cifar_exp/records/run_summary.h"

namespace cifar_exp {

// One run folder as found on disk.
struct RunRecord {
  std::string dir;
  std::string name;
  // "completed", or why not: "running", "interrupted", "crashed" (summary says running but its
  // process is gone), "failed", "incomplete" (no readable summary), "damaged" (a file of the
  // wrong kind or a field of the wrong type: `problem` names them)
  std::string status;
  // summary.json through the schema (run_summary.h); for a run that could not start (a sweep's
  // failure.json), what is known: name, error, and from its config the model, augmentation,
  // transfer and reference accuracy.
  RunSummary summary;
  bool has_summary_file = false;  // summary.json was there and readable
  bool has_failure_file = false;  // failure.json was read instead
  int failure_exit_code = 0;      // failure.json's exit_code
  std::optional<int64_t> seed;    // the summary's, else failure.json's, else config.json's
  nlohmann::json config;          // config.json (the resolved config), empty when absent
  // From config.json and the data files summary.json's provenance records; nullopt when there
  // is no config.json this version can read. Runs are pooled and reused only by identity.
  std::optional<RunIdentity> identity;
  std::vector<EpochMetrics> epochs;  // metrics.jsonl, else metrics.csv
  std::string problem;               // for runs that are not complete: what is known
  bool complete() const { return status == "completed"; }
};

// Every run folder in `paths`: each path is a run folder or a folder of run folders. A run
// folder holds summary.json, metrics.csv, config.json or failure.json (written by a sweep when
// a run could not start). Throws Error naming a path that does not exist.
std::vector<RunRecord> find_runs(const std::vector<std::string>& paths);

// Error (exit 10, ExitCode::kDamagedRuns) naming the damaged runs among `runs` (up to three, with
// their file and field), when there are any: what `compare` says after printing the rest.
void check_not_damaged(const std::vector<RunRecord>& runs);

// `compare --runs`: one line per run folder (dir, name, seed, status), as markdown | csv | json.
// What sweeps see (find_runs) when they decide what to skip, resume or start. JSON entries also
// carry "problem" and what scripts read of a run instead of its files: "summary" (summary.json as
// RunSummary writes it) and "config" (config.json), each null when missing or unreadable, and
// "epochs", the per-epoch rows as EpochMetrics::to_json writes them (a value not recorded: null)
// from metrics.jsonl, else from metrics.csv by its header's names ([] when none).
std::string format_runs(const std::vector<RunRecord>& runs, const std::string& format);

}  // namespace cifar_exp
