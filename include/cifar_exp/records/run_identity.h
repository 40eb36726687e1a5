// A run's identity: what it computes, apart from its seed. Two runs with the same identity and
// seed are one sample; runs with different identities are never pooled (`compare`) or reused
// for each other (`cifar-exp sweep`). The identity is the resolved config less the keys that
// cannot change the results (run_identity.cpp lists them), plus the data files' checksums.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

struct RunIdentity {
  // The resolved config's keys that can change results (to_json's layout, those keys removed).
  nlohmann::json settings;
  // provenance's data_files ({file: {size, crc32}}); null when not known (a run that never
  // started).
  nlohmann::json data_files;
  std::string settings_fingerprint;  // 16 hex digits of `settings`
  std::string fingerprint;           // 16 hex digits of settings and data files: summary.json's

  // For a run folder's config.json (any version: parse_config's drop_inapplicable) and the data
  // files its summary records. nullopt when the document is not a config this version can read.
  static std::optional<RunIdentity> of_config_json(const nlohmann::json& config,
                                                   const nlohmann::json& data_files);
  static RunIdentity of(const ExperimentConfig& config, const nlohmann::json& data_files);
};

// The resolved config keys that do not change what a run computes: names and descriptions,
// where things are (data.dir, output.*), how it is run (training.device, training.threads,
// training.eval_batch_size, model.convolution, model.kernels: the same function up to float
// rounding, as another device gives), and training.seed, which identifies a sample.
const std::vector<std::string>& identity_excluded_keys();

// The dotted key paths where two identities' settings differ (a key present in one only
// included), then "data files" when both record data files and they differ.
std::vector<std::string> identity_differences(const RunIdentity& a, const RunIdentity& b);

// "training.epochs=2, training.lr_schedule=constant": each key's value in `identity` (compact
// JSON; strings bare; "absent" when it does not have the key).
std::string describe_keys(const RunIdentity& identity, const std::vector<std::string>& keys);

}  // namespace cifar_exp
