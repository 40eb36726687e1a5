#include "cifar_exp/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cifar_exp/build_info.h"
#include "cifar_exp/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using nlohmann::json;

std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

bool is_inside(const std::string& path, const std::string& parent) {
  return path.size() > parent.size() && path.compare(0, parent.size(), parent) == 0 &&
         path[parent.size()] == '.';
}

// The flag to blame for an error at `path`: the one that set it, else one that set an object
// around it (--set training={...}), else one that set a key inside it (--set foo.bar=1 made an
// unknown "foo").
const std::string* find_origin(const std::map<std::string, std::string>& origins,
                               const std::string& path) {
  if (path.empty()) return nullptr;
  if (auto it = origins.find(path); it != origins.end()) return &it->second;
  for (const auto& [set_path, flag] : origins)
    if (is_inside(path, set_path)) return &flag;
  for (const auto& [set_path, flag] : origins)
    if (is_inside(set_path, path)) return &flag;
  return nullptr;
}

// Walks one JSON object, reading known keys and remembering them so that unknown keys can be
// reported. Errors carry the key's JSON path and, for command-line overrides, the flag.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, const std::string& source,
               const std::map<std::string, std::string>& origins)
      : object_(object), path_(std::move(path)), source_(source), origins_(origins) {
    if (!object_.is_object()) fail(path_, "must be an object, got " + describe(object_));
  }

  [[noreturn]] void fail(const std::string& key_path, const std::string& message) const {
    if (const std::string* flag = find_origin(origins_, key_path)) {
      // "--set training.epochs" already names the path; "--epochs" does not.
      const bool names_path = *flag == "--set " + key_path;
      throw ConfigError(*flag + (names_path ? "" : " (" + key_path + ")") + ": " + message);
    }
    throw ConfigError(source_ + ": " + (key_path.empty() ? "top level" : key_path) + ": " +
                      message);
  }

  std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  const json* find(const std::string& key) {
    known_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool has(const std::string& key) { return find(key) != nullptr; }

  void read_string(const std::string& key, std::string& out) {
    if (const json* v = find(key)) {
      if (!v->is_string()) fail(key_path(key), "must be a string, got " + describe(*v));
      out = v->get<std::string>();
    }
  }

  void read_choice(const std::string& key, std::string& out,
                   const std::vector<std::string>& choices) {
    read_string(key, out);
    for (const auto& c : choices)
      if (c == out) return;
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    fail(key_path(key), "must be one of " + list + ", got \"" + out + "\"");
  }

  void read_bool(const std::string& key, bool& out) {
    if (const json* v = find(key)) {
      if (!v->is_boolean()) fail(key_path(key), "must be true or false, got " + describe(*v));
      out = v->get<bool>();
    }
  }

  // Integers in [min, max]; `what` words the requirement ("a positive integer").
  void read_int(const std::string& key, int64_t& out, int64_t min, int64_t max,
                const std::string& what) {
    if (const json* v = find(key)) {
      bool ok = v->is_number_integer() || v->is_number_unsigned();
      int64_t value = 0;
      if (ok) {
        if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) {
          ok = false;
        } else {
          value = v->get<int64_t>();
          ok = value >= min && value <= max;
        }
      }
      if (!ok) fail(key_path(key), "must be " + what + ", got " + describe(*v));
      out = value;
    }
  }

  void read_optional_int(const std::string& key, std::optional<int64_t>& out, int64_t min,
                         const std::string& what) {
    if (has(key)) {
      int64_t value = 0;
      read_int(key, value, min, INT64_MAX, what);
      out = value;
    }
  }

  void read_number(const std::string& key, double& out, double min, double max,
                   const std::string& what, bool exclusive_min = false) {
    if (const json* v = find(key)) {
      bool ok = v->is_number();
      if (ok) {
        double value = v->get<double>();
        ok = (exclusive_min ? value > min : value >= min) && value <= max;
        if (ok) out = value;
      }
      if (!ok) fail(key_path(key), "must be " + what + ", got " + describe(*v));
    }
  }

  // A nested object; nullptr when absent.
  const json* section(const std::string& key) {
    const json* v = find(key);
    if (v && !v->is_object()) fail(key_path(key), "must be an object, got " + describe(*v));
    return v;
  }

  void reject_unknown_keys() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (!known_.count(it.key())) fail(key_path(it.key()), "unknown key");
    }
  }

  const std::string& source() const { return source_; }
  const std::map<std::string, std::string>& origins() const { return origins_; }

 private:
  const json& object_;
  std::string path_;
  const std::string& source_;
  const std::map<std::string, std::string>& origins_;
  std::set<std::string> known_;
};

const json kEmptyObject = json::object();

const json& or_empty(const json* section) { return section ? *section : kEmptyObject; }

void parse_data(const json& j, ObjectReader& parent, DataConfig& data) {
  ObjectReader r(j, "data", parent.source(), parent.origins());
  r.read_string("dir", data.dir);
  if (r.has("dir") && data.dir.empty()) r.fail("data.dir", "must not be empty");
  r.read_optional_int("train_limit", data.train_limit, 1, "a positive integer");
  r.read_optional_int("test_limit", data.test_limit, 1, "a positive integer");
  r.reject_unknown_keys();
}

void parse_model(const json& j, ObjectReader& parent, ModelConfig& model) {
  ObjectReader r(j, "model", parent.source(), parent.origins());
  r.read_choice("type", model.type, {"small_cnn", "vgg16_transfer"});
  r.read_string("weights", model.weights);
  r.read_choice("weights_format", model.weights_format, {"keras_h5", "torchvision"});
  r.read_choice("preprocess", model.preprocess, {"auto", "caffe", "imagenet", "unit"});
  r.read_int("input_size", model.input_size, 32, 512, "an integer from 32 to 512");
  r.read_int("hidden_units", model.hidden_units, 1, 1 << 20, "a positive integer");
  r.read_number("dropout", model.dropout, 0.0, 0.999, "a number in [0, 1)");
  r.read_int("trainable_blocks", model.trainable_blocks, 0, 5, "an integer from 0 to 5");
  r.reject_unknown_keys();
  if (model.type == "small_cnn") {
    for (const char* key : {"weights", "trainable_blocks", "input_size"}) {
      if (j.contains(key) && !j[key].is_null()) {
        r.fail(std::string("model.") + key, "only applies to model.type \"vgg16_transfer\"");
      }
    }
  }
}

void parse_augmentation(const json& j, ObjectReader& parent, AugmentationConfig& aug) {
  ObjectReader r(j, "augmentation", parent.source(), parent.origins());
  const double kBig = 1e6;
  r.read_bool("enabled", aug.enabled);
  r.read_number("rotation_range", aug.rotation_range, 0, 360, "a number of degrees in [0, 360]");
  r.read_number("width_shift_range", aug.width_shift_range, 0, kBig, "a non-negative number");
  r.read_number("height_shift_range", aug.height_shift_range, 0, kBig, "a non-negative number");
  r.read_bool("horizontal_flip", aug.horizontal_flip);
  r.read_bool("vertical_flip", aug.vertical_flip);
  if (const json* zoom = r.find("zoom_range")) {
    const std::string path = "augmentation.zoom_range";
    if (zoom->is_number()) {
      const double z = zoom->get<double>();
      if (z < 0 || z >= 1) r.fail(path, "must be a number in [0, 1) or a pair [lower, upper]");
      aug.zoom_lower = 1 - z;
      aug.zoom_upper = 1 + z;
    } else if (zoom->is_array() && zoom->size() == 2 && (*zoom)[0].is_number() &&
               (*zoom)[1].is_number()) {
      aug.zoom_lower = (*zoom)[0].get<double>();
      aug.zoom_upper = (*zoom)[1].get<double>();
      if (!(aug.zoom_lower > 0 && aug.zoom_lower <= aug.zoom_upper)) {
        r.fail(path,
               "must be a pair [lower, upper] with 0 < lower <= upper, got " + describe(*zoom));
      }
    } else {
      r.fail(path, "must be a number in [0, 1) or a pair [lower, upper], got " + describe(*zoom));
    }
  }
  r.read_number("shear_range", aug.shear_range, 0, 360, "a number of degrees in [0, 360]");
  r.read_choice("fill_mode", aug.fill_mode, {"nearest", "constant", "reflect", "wrap"});
  r.read_number("cval", aug.cval, -kBig, kBig, "a number");
  if (const json* crop = r.section("random_crop")) {
    ObjectReader c(*crop, "augmentation.random_crop", parent.source(), parent.origins());
    RandomCropConfig rc;
    c.read_int("padding", rc.padding, 0, 32, "an integer from 0 to 32");
    c.read_int("size", rc.size, 1, 1 << 20, "a positive integer");
    c.reject_unknown_keys();
    if (rc.size > 32 + 2 * rc.padding) {
      c.fail("augmentation.random_crop.size", "crop of " + std::to_string(rc.size) +
                                                  " is larger than the padded image (" +
                                                  std::to_string(32 + 2 * rc.padding) + ")");
    }
    aug.random_crop = rc;
  }
  r.read_int("cutout", aug.cutout, 0, 32, "an integer from 0 to 32");
  r.reject_unknown_keys();
}

void parse_training(const json& j, ObjectReader& parent, TrainingConfig& t) {
  ObjectReader r(j, "training", parent.source(), parent.origins());
  r.read_int("epochs", t.epochs, 1, 100000, "a positive integer");
  r.read_int("batch_size", t.batch_size, 1, 1 << 20, "a positive integer");
  r.read_int("eval_batch_size", t.eval_batch_size, 1, 1 << 20, "a positive integer");
  r.read_choice("optimizer", t.optimizer, {"adam"});
  r.read_number("learning_rate", t.learning_rate, 0, 10, "a number in (0, 10]", true);
  r.read_number("beta1", t.beta1, 0, 0.999999, "a number in [0, 1)");
  r.read_number("beta2", t.beta2, 0, 0.999999, "a number in [0, 1)");
  r.read_number("epsilon", t.epsilon, 0, 1, "a number in (0, 1]", true);
  int64_t seed = int64_t(t.seed);
  r.read_int("seed", seed, 0, INT64_MAX, "a non-negative integer");
  t.seed = uint64_t(seed);
  r.read_string("device", t.device);
  static const std::regex kDevice("auto|cpu|cuda|cuda:[0-9]+");
  if (!std::regex_match(t.device, kDevice)) {
    r.fail("training.device", "must be auto, cpu, cuda or cuda:N, got \"" + t.device + "\"");
  }
  r.read_int("threads", t.threads, 0, 4096, "a non-negative integer (0 = all cores)");
  r.read_choice("precision", t.precision, {"fp32", "bf16"});
  r.read_bool("tf32", t.tf32);
  r.reject_unknown_keys();
}

void parse_output(const json& j, ObjectReader& parent, OutputConfig& o) {
  ObjectReader r(j, "output", parent.source(), parent.origins());
  r.read_string("dir", o.dir);
  if (o.dir.empty()) r.fail("output.dir", "must not be empty");
  r.read_bool("save_model", o.save_model);
  r.read_string("cache_dir", o.cache_dir);
  r.reject_unknown_keys();
}

// Rules that span keys. Features this build cannot run yet are refused loudly rather than
// silently training something else.
void check_combinations(const ExperimentConfig& c, ObjectReader& r) {
  if (c.model.type == "vgg16_transfer" && c.model.weights.empty()) {
    r.fail("model.weights",
           "required for vgg16_transfer: the pretrained weights file, or "
           "\"random\" for an untrained backbone (then not transfer learning)");
  }
}

}  // namespace

std::string transfer_kind(const ModelConfig& model) {
  if (model.type != "vgg16_transfer") return "none";
  return model.weights == "random" ? "random" : "pretrained";
}

bool AugmentationConfig::any_geometric() const {
  return rotation_range > 0 || width_shift_range > 0 || height_shift_range > 0 ||
         zoom_lower != 1.0 || zoom_upper != 1.0 || shear_range > 0;
}

ExperimentConfig parse_config(const json& doc, const std::string& source,
                              const std::map<std::string, std::string>& origins) {
  ExperimentConfig c;
  ObjectReader r(doc, "", source, origins);
  r.read_string("name", c.name);
  // A base name, then the grid point a sweep ran it at: "base+training.epochs=30+...".
  static const std::regex kName(
      "([A-Za-z0-9][A-Za-z0-9_.-]{0,99})(\\+[a-z0-9_]+(\\.[a-z0-9_]+)*=[A-Za-z0-9_.-]*)*");
  if (!r.has("name")) r.fail("name", "is required");
  if (c.name.size() > 200 || !std::regex_match(c.name, kName)) {
    r.fail("name",
           "must be 1-100 letters, digits, '_', '-' or '.', starting with a letter or "
           "digit (sweeps add \"+KEY=VALUE\" parts, up to 200 in all), got \"" +
               c.name + "\"");
  }
  r.read_string("description", c.description);
  if (r.has("reference_accuracy")) {
    double ref = 0;
    r.read_number("reference_accuracy", ref, 0, 1, "a fraction in [0, 1]");
    c.reference_accuracy = ref;
  }
  parse_data(or_empty(r.section("data")), r, c.data);
  parse_model(or_empty(r.section("model")), r, c.model);
  parse_augmentation(or_empty(r.section("augmentation")), r, c.augmentation);
  parse_training(or_empty(r.section("training")), r, c.training);
  parse_output(or_empty(r.section("output")), r, c.output);
  r.reject_unknown_keys();
  check_combinations(c, r);
  return c;
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

json parse_json_text(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // Translate the byte offset into line and column, which is what an editor shows.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const auto colon = what.find(": ", what.find("parse error"));
    const std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
    throw ConfigError(path + ":" + std::to_string(line) + ":" + std::to_string(column) +
                      ": invalid JSON: " + first_line(reason));
  } catch (const json::exception& e) {
    // e.g. out_of_range 406, a number too large for a double; it carries no position.
    std::string what = e.what();
    const auto bracket = what.find("] ");
    throw ConfigError(path + ": invalid JSON: " +
                      first_line(bracket == std::string::npos ? what : what.substr(bracket + 2)));
  }
}

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
  return keys;
}

// VALUE is JSON when it parses; other text is a string (model.type=small_cnn), except text that
// starts like JSON ([, {, "), where a typo should not silently become a string.
json parse_set_value(const std::string& text, const std::string& flag) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    const auto start = text.find_first_not_of(" \t");
    if (start == std::string::npos || std::string("[{\"").find(text[start]) == std::string::npos)
      return text;
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
      throw ConfigError(a.flag + ": " + walked + " is " + describe(child) + ", not an object");
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
      if (a == b || is_inside(a, b) || is_inside(b, a)) {
        throw ConfigError(all[i].flag + ": conflicts with " + all[j].flag +
                          (a == b ? " (both set " + a + ")" : ""));
      }
    }
  }
}

std::vector<Assignment> assignments(const ConfigOverrides& o) {
  std::vector<Assignment> all;
  auto add = [&](const char* path, const auto& value, const char* flag) {
    if (value) all.push_back({path, json(*value), flag});
  };
  add("output.dir", o.output_dir, "--output-dir");
  add("training.epochs", o.epochs, "--epochs");
  add("training.batch_size", o.batch_size, "--batch-size");
  add("training.device", o.device, "--device");
  add("training.seed", o.seed, "--seed");
  add("data.train_limit", o.train_limit, "--train-limit");
  add("data.test_limit", o.test_limit, "--test-limit");
  add("training.threads", o.threads, "--threads");
  for (const auto& text : o.set) all.push_back(parse_set(text));
  return all;
}

}  // namespace

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

std::vector<std::string> config_search_dirs() {
  std::vector<std::string> dirs{".", "configs"};
  // Installed beside the binary (bin/../share/cifar-exp/configs, wherever the prefix was moved),
  // then where `cmake --install` put them.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back((exe.parent_path().parent_path() / "share" / "cifar-exp" / "configs").string());
  }
  if (std::find(dirs.begin(), dirs.end(), CIFAR_EXP_INSTALLED_CONFIG_DIR) == dirs.end()) {
    dirs.push_back(CIFAR_EXP_INSTALLED_CONFIG_DIR);
  }
  return dirs;
}

std::string find_config(const std::string& name) {
  std::error_code ec;
  if (name.find('/') != std::string::npos || fs::is_regular_file(name, ec)) {
    if (!fs::exists(name, ec)) throw ConfigError(name + ": cannot open file");
    return name;  // a path: taken as it is
  }
  const bool has_extension = name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0;
  const std::string file = has_extension ? name : name + ".json";
  std::string looked;
  for (const auto& dir : config_search_dirs()) {
    const std::string candidate = dir == "." ? file : (fs::path(dir) / file).string();
    if (fs::is_regular_file(candidate, ec)) return candidate;
    looked += (looked.empty() ? "" : ", ") + candidate;
  }
  throw ConfigError(name + ": no such config; looked for " + looked);
}

ExperimentConfig load_config(const std::string& name, const ConfigOverrides& overrides) {
  const std::string path = find_config(name);
  json doc = read_json_file(path);
  std::map<std::string, std::string> origins;
  apply_overrides(doc, overrides, origins);
  return parse_config(doc, path, origins);
}

json to_json(const ExperimentConfig& c) {
  auto limit = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  json aug = {{"enabled", c.augmentation.enabled},
              {"rotation_range", c.augmentation.rotation_range},
              {"width_shift_range", c.augmentation.width_shift_range},
              {"height_shift_range", c.augmentation.height_shift_range},
              {"horizontal_flip", c.augmentation.horizontal_flip},
              {"vertical_flip", c.augmentation.vertical_flip},
              {"zoom_range", {c.augmentation.zoom_lower, c.augmentation.zoom_upper}},
              {"shear_range", c.augmentation.shear_range},
              {"fill_mode", c.augmentation.fill_mode},
              {"cval", c.augmentation.cval},
              {"random_crop", nullptr},
              {"cutout", c.augmentation.cutout}};
  if (c.augmentation.random_crop) {
    aug["random_crop"] = {{"padding", c.augmentation.random_crop->padding},
                          {"size", c.augmentation.random_crop->size}};
  }
  json model = {{"type", c.model.type}};
  if (c.model.type == "vgg16_transfer") {
    model.update({{"weights", c.model.weights},
                  {"weights_format", c.model.weights_format},
                  {"preprocess", c.model.preprocess},
                  {"input_size", c.model.input_size},
                  {"hidden_units", c.model.hidden_units},
                  {"dropout", c.model.dropout},
                  {"trainable_blocks", c.model.trainable_blocks}});
  }
  json doc = {
      {"name", c.name},
      {"description", c.description},
      {"reference_accuracy", c.reference_accuracy ? json(*c.reference_accuracy) : json(nullptr)},
      {"data",
       {{"dir", c.data.dir},
        {"train_limit", limit(c.data.train_limit)},
        {"test_limit", limit(c.data.test_limit)}}},
      {"model", model},
      {"augmentation", aug},
      {"training",
       {{"epochs", c.training.epochs},
        {"batch_size", c.training.batch_size},
        {"eval_batch_size", c.training.eval_batch_size},
        {"optimizer", c.training.optimizer},
        {"learning_rate", c.training.learning_rate},
        {"beta1", c.training.beta1},
        {"beta2", c.training.beta2},
        {"epsilon", c.training.epsilon},
        {"seed", c.training.seed},
        {"device", c.training.device},
        {"threads", c.training.threads},
        {"precision", c.training.precision},
        {"tf32", c.training.tf32}}},
      {"output",
       {{"dir", c.output.dir},
        {"save_model", c.output.save_model},
        {"cache_dir", c.output.cache_dir}}}};
  // No data.dir means "look in the usual places" (resolve_data_dir); "" would not parse back.
  if (c.data.dir.empty()) doc["data"].erase("dir");
  return doc;
}

}  // namespace cifar_exp
