// Helpers of config_test.cpp and overrides_test.cpp: the smallest config, and the leaves of
// resolved configs (which keys a test must cover).
#pragma once

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

using nlohmann::json;

inline json minimal() { return {{"name", "t"}}; }

// Every leaf's JSON path ("training.epochs"); arrays and null are leaves.
inline void collect_leaves(const json& j, const std::string& path, std::set<std::string>& out) {
  if (!j.is_object()) {
    out.insert(path);
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    collect_leaves(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
  }
}

inline json::json_pointer pointer_of(const std::string& path) {
  std::string p = "/" + path;
  std::replace(p.begin(), p.end(), '.', '/');
  return json::json_pointer(p);
}

// Every leaf of the resolved config: the defaults', and those only a config where every key
// applies has (VGG16 from a weights file, augmentation with a constant fill and a random crop, a
// held-out validation split, a data folder).
inline std::set<std::string> every_leaf() {
  std::set<std::string> leaves;
  collect_leaves(to_json(ExperimentConfig{}), "", leaves);
  const json vgg = {{"name", "t"},
                    {"data", {{"dir", "/d"}}},
                    {"model", {{"type", "vgg16_transfer"}, {"weights", "w.h5"}}},
                    {"augmentation",
                     {{"enabled", true},
                      {"fill_mode", "constant"},
                      {"random_crop", {{"padding", 4}, {"size", 32}}}}},
                    {"training", {{"validation", "split"}}}};
  collect_leaves(to_json(parse_config(vgg, "c.json")), "", leaves);
  // Each optimizer's and each schedule's own keys.
  for (const char* optimizer : {"adamw", "sgd", "rmsprop"}) {
    const json with = {{"name", "t"}, {"training", {{"optimizer", optimizer}}}};
    collect_leaves(to_json(parse_config(with, "c.json")), "", leaves);
  }
  for (const char* schedule : {"step", "cosine", "onecycle", "reduce_on_plateau"}) {
    const json with = {{"name", "t"}, {"training", {{"lr_schedule", schedule}}}};
    collect_leaves(to_json(parse_config(with, "c.json")), "", leaves);
  }
  const json early = {{"name", "t"}, {"training", {{"early_stopping", json::object()}}}};
  collect_leaves(to_json(parse_config(early, "c.json")), "", leaves);
  // Values (null by default) as well as objects.
  leaves.insert({"augmentation.random_crop", "training.early_stopping"});
  return leaves;
}

}  // namespace cifar_exp
