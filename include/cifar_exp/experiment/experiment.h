// The commands that run a config, each starting from a RunContext (run_context.h): `train` (from
// a config file to a finished run folder; everything that can be checked is checked before the
// folder is created, so a bad input leaves nothing behind), `resume`, `extract-features` and
// `preview-augmentation`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/records/run_summary.h"

namespace cifar_exp {

struct RunResult {
  std::string run_dir;
  RunSummary summary;
};

RunResult run_experiment(const std::string& config_path, const ConfigOverrides& overrides,
                         const std::shared_ptr<spdlog::logger>& logger);

// The `resume` command: continues an interrupted run in its own folder from checkpoint.pt, with
// the config it recorded. On the CPU with the same thread count the final metrics equal those of
// an uninterrupted run.
struct ResumeOptions {
  std::string run_dir;
  std::optional<std::string> data_dir;  // when the data has moved since
  std::optional<int64_t> threads;       // a different count is allowed but breaks exactness
  std::optional<std::string> device;
  std::optional<std::string> checkpoint;  // another checkpoint of the run (checkpoint.prev.pt)
};
RunResult resume_experiment(const ResumeOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger);

// The `preview-augmentation` command: a PNG grid with one row per training image, the original
// on the left and `variants` augmented versions beside it.
struct PreviewOptions {
  std::string config_path;
  ConfigOverrides overrides;
  std::string out;
  int64_t count = 8;
  int64_t variants = 5;
};
void preview_augmentation(const PreviewOptions& options,
                          const std::shared_ptr<spdlog::logger>& logger);

// The `extract-features` command: the backbone's flattened output for one split as .npy.
struct ExtractOptions {
  std::string config_path;
  ConfigOverrides overrides;
  std::string split = "test";  // train | test
  std::optional<int64_t> limit;
  std::string out;
};
void extract_features(const ExtractOptions& options, const std::shared_ptr<spdlog::logger>& logger);

}  // namespace cifar_exp
