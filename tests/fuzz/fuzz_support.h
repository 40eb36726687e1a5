// Shared by the fuzz targets: an invariant that must hold for every input.
#pragma once

#include <cstdlib>
#include <iostream>

#include "cifar_exp/config/config.h"

namespace cifar_exp::fuzz {

// Aborts (a finding for libFuzzer) naming the target and the broken invariant.
inline void require(bool condition, const char* target, const char* what) {
  if (!condition) {
    std::cerr << target << ": invariant broken: " << what << std::endl;
    std::abort();
  }
}

// A config that parsed must survive the round trip through the resolved form written to a run's
// config.json; dumping it must not throw (e.g. on invalid UTF-8).
inline void require_round_trip(const ExperimentConfig& config, const char* target) {
  const nlohmann::json resolved = to_json(config);
  const nlohmann::json again =
      to_json(parse_config(nlohmann::json::parse(resolved.dump(2)), "resolved"));
  require(resolved == again, target, "resolved config round-trips");
}

}  // namespace cifar_exp::fuzz
