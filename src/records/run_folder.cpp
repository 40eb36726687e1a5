// Run folders, summary.json and the run lock (run_folder.h).
#include "cifar_exp/records/run_folder.h"

#include <unistd.h>

#include <filesystem>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;

namespace cifar_exp {

void check_output_dir(const std::string& output_dir) {
  if (output_dir.empty()) throw OutputError("output folder: empty path");
  std::error_code ec;
  // The folder, or where it would be created: its nearest existing ancestor. Nothing is made
  // here, so a run refused later (a model it cannot build) leaves no empty folder behind.
  fs::path existing = fs::absolute(output_dir, ec).lexically_normal();
  while (!fs::exists(existing, ec) && existing.has_relative_path()) {
    existing = existing.parent_path();
  }
  if (!fs::is_directory(existing, ec)) {
    throw OutputError(output_dir + ": cannot create output folder: " + existing.string() +
                      " is not a folder");
  }
  if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    throw OutputError(output_dir + (existing == fs::absolute(output_dir, ec).lexically_normal()
                                        ? ": output folder is not writable"
                                        : ": cannot create output folder: " + existing.string() +
                                              " is not writable"));
  }
}

std::string create_run_directory(const std::string& output_dir, const std::string& name,
                                 int64_t seed) {
  check_output_dir(output_dir);
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec || !fs::is_directory(output_dir, ec)) {
    throw OutputError(output_dir + ": cannot create output folder" +
                      (ec ? ": " + ec.message() : std::string(": not a folder")));
  }
  const std::string base = SweepFolder(output_dir).new_run(name, seed, utc_now("%Y%m%dT%H%M%SZ"));
  for (int suffix = 1; suffix < 10000; ++suffix) {
    const std::string candidate = suffix == 1 ? base : base + "-" + std::to_string(suffix);
    std::error_code ec;
    // create_directory is false when the folder exists: never reuse one.
    if (fs::create_directory(candidate, ec)) return candidate;
    if (ec) throw OutputError(candidate + ": cannot create run folder: " + ec.message());
  }
  throw OutputError(base + ": too many run folders with this name and time");
}

void write_summary(const std::string& path, const RunSummary& summary) {
  write_file_atomic(path, json_text(summary.to_json(), 2) + "\n");
}

FileLock lock_run(const std::string& output_dir, const ExperimentConfig& config) {
  const std::string path = SweepFolder(output_dir).run_lock(config.name, config.training.seed);
  auto lock = FileLock::try_acquire(path);
  if (!lock) {
    throw BusyError(config.name + " seed " + std::to_string(config.training.seed) +
                    " is already running in " + output_dir + " (another process holds " + path +
                    ")");
  }
  return std::move(*lock);
}

void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) {
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace cifar_exp
