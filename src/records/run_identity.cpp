// A run's identity and fingerprint (run_identity.h).
#include "cifar_exp/records/run_identity.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"

using nlohmann::json;

namespace cifar_exp {
namespace {

// FNV-1a, 64 bits: stable across builds and machines (std::hash is neither).
std::string fnv1a_hex(const std::string& bytes) {
  uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, hash);
  return text;
}

void erase_path(json& doc, const std::string& path) {
  json* parent = &doc;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    const std::string key = path.substr(start, dot - start);
    if (!parent->is_object() || !parent->contains(key)) return;
    parent = &(*parent)[key];
    start = dot + 1;
  }
  if (parent->is_object()) parent->erase(path.substr(start));
}

// Every leaf of `doc` by its dotted path (an object's own value when it is empty or not an
// object).
void leaves(const json& doc, const std::string& prefix, std::map<std::string, json>& out) {
  if (!doc.is_object() || doc.empty()) {
    out[prefix] = doc;
    return;
  }
  for (const auto& [key, value] : doc.items())
    leaves(value, prefix.empty() ? key : prefix + "." + key, out);
}

}  // namespace

const std::vector<std::string>& identity_excluded_keys() {
  static const std::vector<std::string> kKeys = {
      "name",          "description",       "reference_accuracy",      "data.dir",
      "output",        "training.device",   "training.threads",        "training.seed",
      "model.kernels", "model.convolution", "training.eval_batch_size"};
  return kKeys;
}

RunIdentity RunIdentity::of(const ExperimentConfig& config, const json& data_files) {
  RunIdentity identity;
  identity.settings = to_json(config);
  for (const auto& key : identity_excluded_keys()) erase_path(identity.settings, key);
  identity.data_files = data_files;
  // json objects keep their keys sorted, so the text is canonical.
  identity.settings_fingerprint = fnv1a_hex(identity.settings.dump());
  identity.fingerprint =
      fnv1a_hex(identity.settings.dump() + "\n" + (data_files.is_null() ? "" : data_files.dump()));
  return identity;
}

std::optional<RunIdentity> RunIdentity::of_config_json(const json& config, const json& data_files) {
  try {
    return of(parse_config(config, "config.json", {}, /*drop_inapplicable=*/true), data_files);
  } catch (const Error&) {
    return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> identity_differences(const RunIdentity& a, const RunIdentity& b) {
  std::map<std::string, json> left, right;
  leaves(a.settings, "", left);
  leaves(b.settings, "", right);
  std::vector<std::string> keys;
  for (const auto& [key, value] : left) {
    const auto other = right.find(key);
    if (other == right.end() || other->second != value) keys.push_back(key);
  }
  for (const auto& [key, value] : right)
    if (!left.count(key)) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  if (!a.data_files.is_null() && !b.data_files.is_null() && a.data_files != b.data_files)
    keys.push_back("data files");
  return keys;
}

std::string describe_keys(const RunIdentity& identity, const std::vector<std::string>& keys) {
  std::string text;
  for (const auto& key : keys) {
    std::string value;
    if (key == "data files") {
      value = "(other checksums)";
    } else if (const json* at = config_at(identity.settings, key)) {
      value = at->is_string() ? at->get<std::string>() : json_text(*at, -1);
    } else {
      value = "absent";
    }
    text += (text.empty() ? "" : ", ") + key + "=" + value;
  }
  return text;
}

}  // namespace cifar_exp
