// Command-line overrides of config keys: the typed flags (--epochs, --data-dir, ...) and
// `--set KEY=VALUE`, written into a config document before it is parsed, each error naming the
// flag that set the key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// Command-line overrides; each replaces one config key and is validated like it.
struct ConfigOverrides {
  std::optional<std::string> data_dir;  // not written into the config: see resolve_data_dir()
  std::optional<std::string> output_dir;
  std::optional<int64_t> epochs;
  std::optional<int64_t> batch_size;
  std::optional<std::string> device;
  std::optional<int64_t> seed;
  std::optional<int64_t> train_limit;
  std::optional<int64_t> test_limit;
  std::optional<int64_t> threads;
  // --set KEY=VALUE, in command-line order: any key by its JSON path ("training.epochs=30").
  // VALUE is JSON; text that is not JSON is taken as a string (as Hydra does).
  std::vector<std::string> set;
};

// The command-line arguments that give these overrides to `cifar-exp train` (how a sweep starts
// its runs): --data-dir, --epochs, ..., then each --set in order.
std::vector<std::string> override_arguments(const ConfigOverrides& overrides);
// The config keys the overrides set, in command-line order ("training.epochs" for --epochs and
// --set training.epochs=3 alike); --data-dir is not a config key. ConfigError for a malformed
// --set.
std::vector<std::string> overridden_keys(const ConfigOverrides& overrides);

// Writes the overrides into the document and records which flag set which path ("--epochs",
// "--set training.epochs"). Throws ConfigError naming the flag for a malformed --set, for a
// --set through a key that is not an object, and for two flags that set the same key (or one
// key and a key inside it).
void apply_overrides(nlohmann::json& doc, const ConfigOverrides& overrides,
                     std::map<std::string, std::string>& origins);

}  // namespace cifar_exp
