// Dotted key paths into a config document ("training.early_stopping.patience"): the form in which
// --set, a sweep's --grid, run names ("base+KEY=VALUE") and the config's errors name a key.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// Whether `key` is a dotted key path of lower-case words: "training.epochs" (not whether the
// config has it).
bool is_config_key_path(const std::string& key);
// Whether `path` names a key inside `parent` ("training.epochs" inside "training"; not `parent`
// itself).
bool is_inside_key_path(const std::string& path, const std::string& parent);
// The value at a dotted key path ("training.optimizer") of a config document (a run folder's
// config.json, to_json's output), or nullptr when it has none.
const nlohmann::json* config_at(const nlohmann::json& config, const std::string& key_path);

}  // namespace cifar_exp
