// --set and the typed override flags, written into a config document (overrides.h).
#include "cifar_exp/config/overrides.h"

#include <sstream>

#include "cifar_exp/config/json_reading.h"
#include "cifar_exp/config/key_path.h"
#include "cifar_exp/io/errors.h"

namespace cifar_exp {

using nlohmann::json;

namespace {

// One override: the JSON path it sets, the value and the flag that gave it.
struct Assignment {
  std::string path;
  json value;
  std::string flag;
};

std::vector<std::string> split_path(const std::string& path, const std::string& flag) {
  std::vector<std::string> keys;
  std::stringstream parts(path);
  for (std::string key; std::getline(parts, key, '.');) keys.push_back(key);
  bool ok = !path.empty() && path.back() != '.';
  for (const auto& key : keys) ok = ok && !key.empty();
  if (!ok) throw ConfigError(flag + ": not a key path (keys joined by '.', e.g. training.epochs)");
  // Each key is a level of the document, which later code walks recursively.
  if (keys.size() > size_t(kMaxJsonDepth)) {
    throw ConfigError(flag.substr(0, 60) + "...: a key path of more than " +
                      std::to_string(kMaxJsonDepth) + " keys");
  }
  return keys;
}

// VALUE is JSON when it parses; other text is a string (model.type=small_cnn), except text that
// starts like JSON ([, {, "), where a typo should not silently become a string.
json parse_set_value(const std::string& text, const std::string& flag) {
  try {
    return parse_json_bounded(text);
  } catch (const JsonTooDeep& e) {
    throw ConfigError(flag + ": invalid JSON: " + e.what());
  } catch (const json::parse_error& e) {
    const auto start = text.find_first_not_of(" \t");
    if (start == std::string::npos || std::string("[{\"").find(text[start]) == std::string::npos) {
      // Every string in a config is written back as JSON (config.json), which must be UTF-8.
      try {
        (void)json(text).dump();
      } catch (const json::type_error&) {
        throw ConfigError(flag + ": the value is not valid UTF-8 text");
      }
      return text;
    }
    std::string what = e.what();
    const auto colon = what.find(": ", what.find("parse error"));
    throw ConfigError(flag + ": invalid JSON: " +
                      first_line(colon == std::string::npos ? what : what.substr(colon + 2)));
  } catch (const json::exception&) {  // e.g. a number too large for a double
    throw ConfigError(flag + ": invalid value " + text);
  }
}

Assignment parse_set(const std::string& text) {
  const auto equals = text.find('=');
  const std::string path = text.substr(0, equals);
  const std::string flag = "--set " + (path.empty() ? text : path);
  if (equals == std::string::npos) {
    throw ConfigError(flag + ": expected KEY=VALUE, e.g. --set training.epochs=30");
  }
  split_path(path, flag);
  return {path, parse_set_value(text.substr(equals + 1), flag), flag};
}

// Sets `a.value` at its path, making objects on the way where keys are missing or null.
void assign(json& doc, const Assignment& a) {
  const auto keys = split_path(a.path, a.flag);
  json* node = &doc;
  std::string walked;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    walked += (walked.empty() ? "" : ".") + keys[i];
    json& child = (*node)[keys[i]];
    if (child.is_null()) child = json::object();
    if (!child.is_object()) {
      throw ConfigError(a.flag + ": " + walked + " is " + describe_value(child) +
                        ", not an object");
    }
    node = &child;
  }
  (*node)[keys.back()] = a.value;
}

// Two overrides of one key (or of a key and a key inside it) would depend on their order.
void check_no_overlap(const std::vector<Assignment>& all) {
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const auto& a = all[i].path;
      const auto& b = all[j].path;
      if (a == b || is_inside_key_path(a, b) || is_inside_key_path(b, a)) {
        throw ConfigError(all[i].flag + ": conflicts with " + all[j].flag +
                          (a == b ? " (both set " + a + ")" : ""));
      }
    }
  }
}

// Each typed override's config key and flag, once (`--data-dir` is no key: resolve_data_dir).
template <typename Visit>
void visit_overrides(const ConfigOverrides& o, Visit visit) {
  visit("output.dir", o.output_dir, "--output-dir");
  visit("training.epochs", o.epochs, "--epochs");
  visit("training.batch_size", o.batch_size, "--batch-size");
  visit("training.device", o.device, "--device");
  visit("training.seed", o.seed, "--seed");
  visit("data.train_limit", o.train_limit, "--train-limit");
  visit("data.test_limit", o.test_limit, "--test-limit");
  visit("training.threads", o.threads, "--threads");
}

std::string argument_text(const std::string& value) { return value; }
std::string argument_text(int64_t value) { return std::to_string(value); }

std::vector<Assignment> assignments(const ConfigOverrides& o) {
  std::vector<Assignment> all;
  visit_overrides(o, [&](const char* path, const auto& value, const char* flag) {
    if (value) all.push_back({path, json(*value), flag});
  });
  for (const auto& text : o.set) all.push_back(parse_set(text));
  return all;
}

}  // namespace

std::vector<std::string> override_arguments(const ConfigOverrides& o) {
  std::vector<std::string> args;
  if (o.data_dir) args.insert(args.end(), {"--data-dir", *o.data_dir});
  visit_overrides(o, [&](const char*, const auto& value, const char* flag) {
    if (value) args.insert(args.end(), {flag, argument_text(*value)});
  });
  for (const auto& text : o.set) args.insert(args.end(), {"--set", text});
  return args;
}

std::vector<std::string> overridden_keys(const ConfigOverrides& o) {
  std::vector<std::string> keys;
  for (const auto& a : assignments(o)) keys.push_back(a.path);
  return keys;
}

void apply_overrides(json& doc, const ConfigOverrides& o,
                     std::map<std::string, std::string>& origins) {
  const auto all = assignments(o);
  check_no_overlap(all);
  if (!doc.is_object()) return;  // parse_config reports it
  for (const auto& a : all) {
    assign(doc, a);
    origins[a.path] = a.flag;
  }
}

}  // namespace cifar_exp
