// The shared defaults by name (defaults.h).
#include "cifar_exp/config/defaults.h"

#include "cifar_exp/config/json_reading.h"
#include "cifar_exp/io/errors.h"

namespace cifar_exp {

nlohmann::json shared_defaults() {
  nlohmann::json configs = nlohmann::json::array();
  for (const char* config : kNotebookConfigs) configs.push_back(config);
  return {{"data_dir", kDefaultDataDir}, {"notebook_configs", configs}};
}

std::string shared_default_text(const std::string& name) {
  const nlohmann::json defaults = shared_defaults();
  const auto it = defaults.find(name);
  if (it == defaults.end()) {
    std::string known;
    for (const auto& [key, value] : defaults.items()) known += (known.empty() ? "" : ", ") + key;
    throw ConfigError("--print-default: no default named " + describe_value(name) +
                      " (known: " + known + ")");
  }
  if (it->is_string()) return it->get<std::string>() + "\n";
  std::string lines;
  for (const auto& item : *it) lines += item.get<std::string>() + "\n";
  return lines;
}

}  // namespace cifar_exp
