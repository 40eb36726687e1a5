// The `train` command: from a config file to a finished run folder. Everything that can be
// checked is checked before the run folder is created, so a bad input leaves nothing behind.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cifar_exp/config.h"

namespace cifar_exp {

struct RunResult {
  std::string run_dir;
  nlohmann::json summary;
};

RunResult run_experiment(const std::string& config_path, const ConfigOverrides& overrides,
                         const std::shared_ptr<spdlog::logger>& logger);

// "1.13.1", from the libtorch headers this binary was built with.
std::string torch_version();

// Threads for intra-op parallelism: `requested`, or all cores when 0.
int64_t configure_threads(int64_t requested);

}  // namespace cifar_exp
