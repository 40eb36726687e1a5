// Dotted key paths (key_path.h).
#include "cifar_exp/config/key_path.h"

#include <algorithm>
#include <cctype>

namespace cifar_exp {

using nlohmann::json;

bool is_config_key_path(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool word = std::islower(static_cast<unsigned char>(c)) ||
                      std::isdigit(static_cast<unsigned char>(c)) || c == '_';
    if (!word && !(c == '.' && key[i - 1] != '.')) return false;
  }
  return true;
}

bool is_inside_key_path(const std::string& path, const std::string& parent) {
  return path.size() > parent.size() && path.compare(0, parent.size(), parent) == 0 &&
         path[parent.size()] == '.';
}

const json* config_at(const json& config, const std::string& key_path) {
  std::string pointer = "/" + key_path;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  const json::json_pointer at(pointer);
  return config.is_object() && config.contains(at) ? &config.at(at) : nullptr;
}

}  // namespace cifar_exp
