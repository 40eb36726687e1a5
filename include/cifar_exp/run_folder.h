// A run folder and the files in it: `<output>/<name>-<UTC time>` is made once and never reused;
// summary.json is written through the RunSummary schema; a lock keeps two processes from running
// the same (output folder, config name, seed) at once.
#pragma once

#include <string>

#include "cifar_exp/config.h"
#include "cifar_exp/files.h"
#include "cifar_exp/run_summary.h"

namespace cifar_exp {

// Creates `<output_dir>/<name>-<UTC timestamp>` (adding -2, -3, ... rather than reusing a
// folder) and returns its path. OutputError when the folder cannot be made.
std::string create_run_directory(const std::string& output_dir, const std::string& name);

// Checks that `output_dir` exists or can be created and is writable, without leaving anything.
void check_output_dir(const std::string& output_dir);

// `<run_dir>/<file>`.
std::string run_file(const std::string& run_dir, const std::string& file);

// summary.json, atomically (files.h).
void write_summary(const std::string& path, const RunSummary& summary);

// The lock `<output_dir>/.locks/<name>-seed<seed>.lock`, held while the process lives (a crash
// releases it). BusyError when another process holds it.
FileLock lock_run(const std::string& output_dir, const ExperimentConfig& config);

// Removes the temporary files of a process that died while writing (call with the run's lock).
void remove_stale_temporaries(const std::string& run_dir);

}  // namespace cifar_exp
