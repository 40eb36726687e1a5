// The experiment config's schema: validating the JSON into ExperimentConfig (parse_config),
// writing the resolved form back (to_json) and listing its keys (config_keys); load_config puts
// the file (config_files.h), the overrides (overrides.h) and the schema together. One field table
// per section (key, member, rule) drives parse_config, to_json and config_keys, so each key is
// named once here; keys with rules of their own (name, zoom_range, random_crop) have small
// read/write functions beside their table.
#include "cifar_exp/config/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>

#include "cifar_exp/config/config_keys.h"
#include "cifar_exp/config/defaults.h"
#include "cifar_exp/config/run_name.h"
#include "cifar_exp/io/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using nlohmann::json;

// The flag to blame for an error at `path`: the one that set it, else one that set an object
// around it (--set training={...}), else one that set a key inside it (--set foo.bar=1 made an
// unknown "foo").
const std::string* find_origin(const std::map<std::string, std::string>& origins,
                               const std::string& path) {
  if (path.empty()) return nullptr;
  if (auto it = origins.find(path); it != origins.end()) return &it->second;
  for (const auto& [set_path, flag] : origins)
    if (is_inside_key_path(path, set_path)) return &flag;
  for (const auto& [set_path, flag] : origins)
    if (is_inside_key_path(set_path, path)) return &flag;
  return nullptr;
}

// Walks one JSON object, reading known keys and remembering them so that unknown keys can be
// reported. Errors carry the key's JSON path and, for command-line overrides, the flag.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, const std::string& source,
               const std::map<std::string, std::string>& origins)
      : object_(object), path_(std::move(path)), source_(source), origins_(origins) {
    if (!object_.is_object()) fail(path_, "must be an object, got " + describe_value(object_));
  }

  // The message quotes values as given: line breaks in them are written as \n, so that the
  // error stays one whole line.
  [[noreturn]] void fail(const std::string& key_path, const std::string& message) const {
    if (const std::string* flag = find_origin(origins_, key_path)) {
      // "--set training.epochs" already names the path; "--epochs" does not.
      const bool names_path = *flag == "--set " + key_path;
      throw ConfigError(
          escape_line_breaks(*flag + (names_path ? "" : " (" + key_path + ")") + ": " + message));
    }
    throw ConfigError(escape_line_breaks(
        source_ + ": " + (key_path.empty() ? "top level" : key_path) + ": " + message));
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
      if (!v->is_string()) fail(key_path(key), "must be a string, got " + describe_value(*v));
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
      if (!v->is_boolean()) fail(key_path(key), "must be true or false, got " + describe_value(*v));
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
      if (!ok) fail(key_path(key), "must be " + what + ", got " + describe_value(*v));
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

  // Every number key is read here, and each must survive float32, the precision training and
  // the optimizers compute in (check_float32).
  void read_number(const std::string& key, double& out, double min, double max,
                   const std::string& what, bool exclusive_min = false) {
    if (const json* v = find(key)) {
      bool ok = v->is_number();
      if (ok) {
        double value = v->get<double>();
        ok = (exclusive_min ? value > min : value >= min) && value <= max;
        if (ok) {
          check_float32(key_path(key), *v, what);
          out = value;
        }
      }
      if (!ok) fail(key_path(key), "must be " + what + ", got " + describe_value(*v));
    }
  }

  // ConfigError when a non-zero number `v` (at `key_path`) becomes 0 (underflow) or infinite
  // (overflow) as a float32: training.epsilon 1e-50 would divide by zero.
  void check_float32(const std::string& key_path, const json& v, const std::string& what) const {
    const double value = v.get<double>();
    const float single = static_cast<float>(value);
    if (value == 0 || (single != 0 && std::isfinite(single))) return;
    const std::string becomes = single == 0 ? "0" : std::string(single > 0 ? "" : "-") + "inf";
    fail(key_path, "must be " + what + " that float32 can hold, got " + describe_value(v) +
                       ", which is " + becomes + " as a float32 (training computes in float32)");
  }

  // A nested object; nullptr when absent.
  const json* section(const std::string& key) {
    const json* v = find(key);
    if (v && !v->is_object()) fail(key_path(key), "must be an object, got " + describe_value(*v));
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

// When a key does not apply to a config (a VGG16 setting on a small CNN): why, else "".
using Applicability = std::string (*)(const ExperimentConfig&);

// One config key of a section struct S: its name, how it is read (through ObjectReader, which
// words the errors), how it is written into the resolved config, and when it applies. A key that
// does not apply is refused when given and left out of the resolved config, so that nothing a
// config says is silently ignored (one rule decides both).
template <class S>
struct Field {
  std::string key;
  std::function<void(ObjectReader& r, const std::string& key, S& out)> read;
  std::function<void(const std::string& key, const S& in, json& out)> write;
  Applicability why_not = nullptr;  // nullptr: applies always
};

template <class S>
using Fields = std::vector<Field<S>>;

template <class T>
json value_of(const T& value) {
  return json(value);
}
template <class T>
json value_of(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

// A key kept in `member`: read by `read(reader, key, value, args...)` (an ObjectReader function
// or a lambda), written as it is (an empty optional as null).
template <class S, class T, class Read, class... Args>
Field<S> field(const char* key, T S::*member, Read read, Args... args) {
  return {key,
          [=](ObjectReader& r, const std::string& k, S& s) {
            std::invoke(read, r, k, s.*member, args...);
          },
          [=](const std::string& k, const S& s, json& out) { out[k] = value_of(s.*member); }};
}

// The kinds of key, for the tables below. `what` words the requirement in errors ("a positive
// integer"); ranges are [min, max].
template <class S>
Field<S> text(const char* key, std::string S::*m) {
  return field(key, m, &ObjectReader::read_string);
}

template <class S>
Field<S> flag(const char* key, bool S::*m) {
  return field(key, m, &ObjectReader::read_bool);
}

// One of the names of E (choices.h).
template <class S, class E>
Field<S> choice(const char* key, E S::*m) {
  return {key,
          [=](ObjectReader& r, const std::string& k, S& s) {
            std::string name = to_string(s.*m);
            r.read_choice(k, name, choice_names<E>());
            s.*m = *choice_from_name<E>(name);
          },
          [=](const std::string& k, const S& s, json& out) { out[k] = to_string(s.*m); }};
}

template <class S>
Field<S> integer(const char* key, int64_t S::*m, int64_t min, int64_t max, const char* what) {
  return field(key, m, &ObjectReader::read_int, min, max, std::string(what));
}

// Absent, or an integer from `min` up.
template <class S>
Field<S> optional_integer(const char* key, std::optional<int64_t> S::*m, int64_t min,
                          const char* what) {
  return field(key, m, &ObjectReader::read_optional_int, min, std::string(what));
}

// Excluding min with `exclusive_min`.
template <class S>
Field<S> number(const char* key, double S::*m, double min, double max, const char* what,
                bool exclusive_min = false) {
  return field(key, m, &ObjectReader::read_number, min, max, std::string(what), exclusive_min);
}

// Absent, or a number in [min, max].
template <class S>
Field<S> optional_number(const char* key, std::optional<double> S::*m, double min, double max,
                         const char* what) {
  return field(key, m, [=](ObjectReader& r, const std::string& k, std::optional<double>& v) {
    if (!r.has(k)) return;
    double value = 0;
    r.read_number(k, value, min, max, what);
    v = value;
  });
}

// An integer from 0 kept as uint64_t (a seed), so written as an unsigned JSON number.
template <class S>
Field<S> unsigned_integer(const char* key, uint64_t S::*m, const char* what) {
  return field(key, m, [=](ObjectReader& r, const std::string& k, uint64_t& v) {
    int64_t value = int64_t(v);
    r.read_int(k, value, 0, INT64_MAX, what);
    v = uint64_t(value);
  });
}

// A string that, when given, must not be empty.
template <class S>
Field<S> non_empty_text(const char* key, std::string S::*m) {
  return field(key, m, [](ObjectReader& r, const std::string& k, std::string& v) {
    r.read_string(k, v);
    if (r.has(k) && v.empty()) r.fail(r.key_path(k), "must not be empty");
  });
}

// A string that `valid` accepts; `what` lists the accepted forms.
template <class S>
Field<S> checked_text(const char* key, std::string S::*m, bool (*valid)(const std::string&),
                      const char* what) {
  return field(key, m, [=](ObjectReader& r, const std::string& k, std::string& v) {
    r.read_string(k, v);
    if (!valid(v)) r.fail(r.key_path(k), std::string("must be ") + what + ", got \"" + v + "\"");
  });
}

// `f`, applying only where `why_not` says "".
template <class S>
Field<S> only(Applicability why_not, Field<S> f) {
  f.why_not = why_not;
  return f;
}

template <class S>
std::string why_not_applies(const Field<S>& field, const ExperimentConfig* config) {
  return field.why_not && config ? field.why_not(*config) : "";
}

template <class S>
void read_fields(ObjectReader& r, const Fields<S>& fields, S& out) {
  for (const auto& field : fields) field.read(r, field.key, out);
}

// The keys of `in` that apply to `config` (all of them without one).
template <class S>
json write_fields(const Fields<S>& fields, const S& in, const ExperimentConfig* config = nullptr) {
  json out = json::object();
  for (const auto& field : fields) {
    if (why_not_applies(field, config).empty()) field.write(field.key, in, out);
  }
  return out;
}

// Refuses each key of `object` (the section at `path`) that does not apply to `config`.
template <class S>
void refuse_inapplicable(const json& object, const std::string& path, const Fields<S>& fields,
                         const ExperimentConfig& config, const ObjectReader& r) {
  for (const auto& field : fields) {
    const auto it = object.find(field.key);
    if (it == object.end() || it->is_null()) continue;
    const std::string why = why_not_applies(field, &config);
    if (!why.empty()) r.fail(path.empty() ? field.key : path + "." + field.key, why);
  }
}

// The object at `key` in `parent` (absent: {}), read through `fields`, unknown keys refused.
template <class S>
const json& read_object(ObjectReader& parent, const std::string& key, const Fields<S>& fields,
                        S& out) {
  const json& object = or_empty(parent.section(key));
  ObjectReader r(object, parent.key_path(key), parent.source(), parent.origins());
  read_fields(r, fields, out);
  r.reject_unknown_keys();
  return object;
}

const Fields<DataConfig> kDataFields = {
    non_empty_text("dir", &DataConfig::dir),
    optional_integer("train_limit", &DataConfig::train_limit, 1, "a positive integer"),
    optional_integer("test_limit", &DataConfig::test_limit, 1, "a positive integer"),
};

// When keys apply (Field::why_not): "" if they do, else why not.
std::string vgg16_only(const ExperimentConfig& c) {
  return c.model.type == ModelType::kVgg16Transfer
             ? ""
             : "only applies to model.type \"vgg16_transfer\"";
}

std::string weights_file_only(const ExperimentConfig& c) {
  if (const std::string why = vgg16_only(c); !why.empty()) return why;
  return c.model.weights != "random"
             ? ""
             : "does not apply to random backbone weights (model.weights \"random\")";
}

std::string augmentation_only(const ExperimentConfig& c) {
  return c.augmentation.enabled ? "" : "only applies when augmentation.enabled is true";
}

std::string constant_fill_only(const ExperimentConfig& c) {
  if (const std::string why = augmentation_only(c); !why.empty()) return why;
  return c.augmentation.fill_mode == FillMode::kConstant
             ? ""
             : "only applies when augmentation.fill_mode is \"constant\"";
}

std::string tensorboard_only(const ExperimentConfig& c) {
  return c.output.tensorboard ? "" : "only applies when output.tensorboard is true";
}

std::string validation_split_only(const ExperimentConfig& c) {
  return c.training.validation == Validation::kSplit
             ? ""
             : "only applies when training.validation is \"split\"";
}

// "" when the choice at `key` is one of `applies`, else why the key does not apply.
template <class E>
std::string choice_only(const char* key, E value, std::initializer_list<E> applies) {
  if (std::find(applies.begin(), applies.end(), value) != applies.end()) return "";
  std::string names;
  for (const E e : applies) names += (names.empty() ? "\"" : "\", \"") + to_string(e);
  return std::string("only applies to ") + key + " " + names + "\"";
}

// The optimizers a training key applies to.
template <Optimizer... kApplies>
std::string optimizers_only(const ExperimentConfig& c) {
  return choice_only("training.optimizer", c.training.optimizer, {kApplies...});
}

// The learning-rate schedules a training key applies to.
template <LrSchedule... kApplies>
std::string schedules_only(const ExperimentConfig& c) {
  return choice_only("training.lr_schedule", c.training.lr_schedule, {kApplies...});
}

const Fields<ModelConfig> kModelFields = {
    choice("type", &ModelConfig::type),
    only(vgg16_only, text("weights", &ModelConfig::weights)),
    only(weights_file_only, choice("weights_format", &ModelConfig::weights_format)),
    only(vgg16_only, choice("preprocess", &ModelConfig::preprocess)),
    only(vgg16_only,
         integer("input_size", &ModelConfig::input_size, 32, 512, "an integer from 32 to 512")),
    only(vgg16_only,
         integer("hidden_units", &ModelConfig::hidden_units, 1, 1 << 20, "a positive integer")),
    only(vgg16_only, number("dropout", &ModelConfig::dropout, 0.0, 0.999, "a number in [0, 1)")),
    only(vgg16_only, integer("trainable_blocks", &ModelConfig::trainable_blocks, 0, 5,
                             "an integer from 0 to 5")),
    choice("kernels", &ModelConfig::kernels),
    only(vgg16_only, choice("convolution", &ModelConfig::convolution)),
};

// augmentation.zoom_range: a number z for [1-z, 1+z], or a pair [lower, upper].
void read_zoom(ObjectReader& r, const std::string& key, AugmentationConfig& aug) {
  const json* zoom = r.find(key);
  if (!zoom) return;
  const std::string path = r.key_path(key);
  if (zoom->is_number()) {
    r.check_float32(path, *zoom, "a number in [0, 1)");
    const double z = zoom->get<double>();
    if (z < 0 || z >= 1) r.fail(path, "must be a number in [0, 1) or a pair [lower, upper]");
    aug.zoom_lower = 1 - z;
    aug.zoom_upper = 1 + z;
  } else if (zoom->is_array() && zoom->size() == 2 && (*zoom)[0].is_number() &&
             (*zoom)[1].is_number()) {
    for (const json& bound : *zoom) r.check_float32(path, bound, "a pair [lower, upper]");
    aug.zoom_lower = (*zoom)[0].get<double>();
    aug.zoom_upper = (*zoom)[1].get<double>();
    if (!(aug.zoom_lower > 0 && aug.zoom_lower <= aug.zoom_upper)) {
      r.fail(path,
             "must be a pair [lower, upper] with 0 < lower <= upper, got " + describe_value(*zoom));
    }
  } else {
    r.fail(path,
           "must be a number in [0, 1) or a pair [lower, upper], got " + describe_value(*zoom));
  }
}

void write_zoom(const std::string& key, const AugmentationConfig& aug, json& out) {
  out[key] = {aug.zoom_lower, aug.zoom_upper};
}

const Fields<RandomCropConfig> kRandomCropFields = {
    integer("padding", &RandomCropConfig::padding, 0, 32, "an integer from 0 to 32"),
    integer("size", &RandomCropConfig::size, 1, 1 << 20, "a positive integer"),
};

// augmentation.random_crop: an object, or absent (written as null); the crop must fit.
void read_random_crop(ObjectReader& r, const std::string& key, AugmentationConfig& aug) {
  if (!r.section(key)) return;
  RandomCropConfig crop;
  read_object(r, key, kRandomCropFields, crop);
  const int64_t padded = 32 + 2 * crop.padding;
  if (crop.size > padded) {
    r.fail(r.key_path(key) + ".size", "crop of " + std::to_string(crop.size) +
                                          " is larger than the padded image (" +
                                          std::to_string(padded) + ")");
  }
  aug.random_crop = crop;
}

void write_random_crop(const std::string& key, const AugmentationConfig& aug, json& out) {
  out[key] = aug.random_crop ? write_fields(kRandomCropFields, *aug.random_crop) : json(nullptr);
}

const double kBig = 1e6;

const Fields<AugmentationConfig> kAugmentationFields = {
    flag("enabled", &AugmentationConfig::enabled),
    only(augmentation_only, number("rotation_range", &AugmentationConfig::rotation_range, 0, 360,
                                   "a number of degrees in [0, 360]")),
    only(augmentation_only, number("width_shift_range", &AugmentationConfig::width_shift_range, 0,
                                   kBig, "a non-negative number")),
    only(augmentation_only, number("height_shift_range", &AugmentationConfig::height_shift_range, 0,
                                   kBig, "a non-negative number")),
    only(augmentation_only, flag("horizontal_flip", &AugmentationConfig::horizontal_flip)),
    only(augmentation_only, flag("vertical_flip", &AugmentationConfig::vertical_flip)),
    {"zoom_range", read_zoom, write_zoom, augmentation_only},
    only(augmentation_only, number("shear_range", &AugmentationConfig::shear_range, 0, 360,
                                   "a number of degrees in [0, 360]")),
    only(augmentation_only, choice("fill_mode", &AugmentationConfig::fill_mode)),
    only(constant_fill_only, number("cval", &AugmentationConfig::cval, -kBig, kBig, "a number")),
    {"random_crop", read_random_crop, write_random_crop, augmentation_only},
    only(augmentation_only,
         integer("cutout", &AugmentationConfig::cutout, 0, 32, "an integer from 0 to 32")),
};

const Fields<EarlyStoppingConfig> kEarlyStoppingFields = {
    choice("monitor", &EarlyStoppingConfig::monitor),
    choice("mode", &EarlyStoppingConfig::mode),
    integer("patience", &EarlyStoppingConfig::patience, 0, 100000, "a non-negative integer"),
    number("min_delta", &EarlyStoppingConfig::min_delta, 0, 1e6, "a non-negative number"),
    optional_number("baseline", &EarlyStoppingConfig::baseline, -std::numeric_limits<double>::max(),
                    std::numeric_limits<double>::max(), "a number or null"),
    flag("restore_best_weights", &EarlyStoppingConfig::restore_best_weights),
    integer("start_from_epoch", &EarlyStoppingConfig::start_from_epoch, 0, 100000,
            "a non-negative integer"),
};

// training.early_stopping: an object (Keras' defaults for what it leaves out), or absent or null
// (off; written as null).
void read_early_stopping(ObjectReader& r, const std::string& key, TrainingConfig& training) {
  if (!r.section(key)) return;
  EarlyStoppingConfig early_stopping;
  read_object(r, key, kEarlyStoppingFields, early_stopping);
  training.early_stopping = early_stopping;
}

void write_early_stopping(const std::string& key, const TrainingConfig& training, json& out) {
  out[key] = training.early_stopping ? write_fields(kEarlyStoppingFields, *training.early_stopping)
                                     : json(nullptr);
}

const Fields<TrainingConfig> kTrainingFields = {
    integer("epochs", &TrainingConfig::epochs, 1, 100000, "a positive integer"),
    integer("batch_size", &TrainingConfig::batch_size, 1, 1 << 20, "a positive integer"),
    integer("eval_batch_size", &TrainingConfig::eval_batch_size, 1, 1 << 20, "a positive integer"),
    choice("optimizer", &TrainingConfig::optimizer),
    choice("validation", &TrainingConfig::validation),
    only(validation_split_only, number("validation_split", &TrainingConfig::validation_split, 0,
                                       0.999, "a fraction in (0, 1)", true)),
    number("learning_rate", &TrainingConfig::learning_rate, 0, 10, "a number in (0, 10]", true),
    only(optimizers_only<Optimizer::kAdam, Optimizer::kAdamW>,
         number("beta1", &TrainingConfig::beta1, 0, 0.999999, "a number in [0, 1)")),
    only(optimizers_only<Optimizer::kAdam, Optimizer::kAdamW>,
         number("beta2", &TrainingConfig::beta2, 0, 0.999999, "a number in [0, 1)")),
    only(optimizers_only<Optimizer::kAdam, Optimizer::kAdamW, Optimizer::kRmsprop>,
         number("epsilon", &TrainingConfig::epsilon, 0, 1, "a number in (0, 1]", true)),
    only(optimizers_only<Optimizer::kAdamW, Optimizer::kSgd>,
         number("weight_decay", &TrainingConfig::weight_decay, 0, 10, "a number in [0, 10]")),
    only(optimizers_only<Optimizer::kSgd, Optimizer::kRmsprop>,
         number("momentum", &TrainingConfig::momentum, 0, 0.999999, "a number in [0, 1)")),
    only(optimizers_only<Optimizer::kSgd>, flag("nesterov", &TrainingConfig::nesterov)),
    only(optimizers_only<Optimizer::kRmsprop>,
         number("rho", &TrainingConfig::rho, 0, 0.999999, "a number in [0, 1)")),
    choice("lr_schedule", &TrainingConfig::lr_schedule),
    only(schedules_only<LrSchedule::kCosine>,
         integer("lr_warmup_epochs", &TrainingConfig::lr_warmup_epochs, 0, 100000,
                 "a non-negative integer")),
    only(schedules_only<LrSchedule::kCosine, LrSchedule::kReduceOnPlateau>,
         number("lr_min", &TrainingConfig::lr_min, 0, 10, "a number in [0, 10]")),
    only(schedules_only<LrSchedule::kStep>,
         integer("lr_step_epochs", &TrainingConfig::lr_step_epochs, 1, 100000,
                 "a positive integer")),
    only(schedules_only<LrSchedule::kStep>,
         number("lr_gamma", &TrainingConfig::lr_gamma, 0, 1, "a number in (0, 1]", true)),
    only(schedules_only<LrSchedule::kOneCycle>,
         number("lr_pct_start", &TrainingConfig::lr_pct_start, 0, 0.999999, "a number in (0, 1)",
                true)),
    only(schedules_only<LrSchedule::kReduceOnPlateau>,
         choice("lr_monitor", &TrainingConfig::lr_monitor)),
    only(schedules_only<LrSchedule::kReduceOnPlateau>,
         number("lr_factor", &TrainingConfig::lr_factor, 0, 0.999999, "a number in (0, 1)", true)),
    only(schedules_only<LrSchedule::kReduceOnPlateau>,
         integer("lr_patience", &TrainingConfig::lr_patience, 0, 100000, "a non-negative integer")),
    only(schedules_only<LrSchedule::kReduceOnPlateau>,
         integer("lr_cooldown", &TrainingConfig::lr_cooldown, 0, 100000, "a non-negative integer")),
    only(schedules_only<LrSchedule::kReduceOnPlateau>,
         number("lr_min_delta", &TrainingConfig::lr_min_delta, 0, 1e6, "a non-negative number")),
    {"early_stopping", read_early_stopping, write_early_stopping},
    unsigned_integer("seed", &TrainingConfig::seed, "a non-negative integer"),
    checked_text("device", &TrainingConfig::device, is_device_spec, "auto, cpu, cuda or cuda:N"),
    integer("threads", &TrainingConfig::threads, 0, 4096, "a non-negative integer (0 = all cores)"),
    choice("precision", &TrainingConfig::precision),
    flag("tf32", &TrainingConfig::tf32),
};

const Fields<OutputConfig> kOutputFields = {
    non_empty_text("dir", &OutputConfig::dir),
    flag("save_model", &OutputConfig::save_model),
    text("cache_dir", &OutputConfig::cache_dir),
    flag("tensorboard", &OutputConfig::tensorboard),
    only(tensorboard_only,
         integer("tensorboard_batch_interval", &OutputConfig::tensorboard_batch_interval, 0,
                 1 << 30, "a non-negative integer (0 = every epoch only)")),
};

// name: required; a base name, then the grid point a sweep ran it at: "base+training.epochs=30".
void read_name(ObjectReader& r, const std::string& key, std::string& name) {
  r.read_string(key, name);
  if (!r.has(key)) r.fail(key, "is required");
  if (!RunName::valid(name)) {
    r.fail(key,
           "must be 1-100 letters, digits, '_', '-' or '.', starting with a letter or "
           "digit (sweeps add \"+KEY=VALUE\" parts, up to 200 in all), got \"" +
               name + "\"");
  }
}

// The top level's own keys; the sections follow in parse_config and to_json.
const Fields<ExperimentConfig> kTopLevelFields = {
    field("name", &ExperimentConfig::name, read_name),
    text("description", &ExperimentConfig::description),
    optional_number("reference_accuracy", &ExperimentConfig::reference_accuracy, 0, 1,
                    "a fraction in [0, 1]"),
};

// Rules that span keys. Features this build cannot run yet are refused loudly rather than
// silently training something else.
// Whether a monitor reads a metric only validation gives (val_loss, val_accuracy).
bool watches_validation(Monitor monitor) {
  return monitor == Monitor::kValLoss || monitor == Monitor::kValAccuracy;
}

void check_combinations(const ExperimentConfig& c, ObjectReader& r) {
  const TrainingConfig& t = c.training;
  if (t.lr_schedule == LrSchedule::kCosine && t.lr_warmup_epochs >= t.epochs) {
    r.fail("training.lr_warmup_epochs",
           "must be fewer than training.epochs (" + std::to_string(t.epochs) + ")");
  }
  // A monitor of a val_ metric, in a run without validation: refused where it is set.
  const auto check_monitor = [&](const char* key, Monitor monitor) {
    if (watches_validation(monitor) && t.validation == Validation::kNone) {
      r.fail(key,
             "\"" + to_string(monitor) + "\" needs validation (training.validation is \"none\")");
    }
  };
  if (t.lr_schedule == LrSchedule::kReduceOnPlateau)
    check_monitor("training.lr_monitor", t.lr_monitor);
  if (t.early_stopping) {
    check_monitor("training.early_stopping.monitor", t.early_stopping->monitor);
    if (t.early_stopping->start_from_epoch >= t.epochs) {
      r.fail("training.early_stopping.start_from_epoch",
             "must be fewer than training.epochs (" + std::to_string(t.epochs) + ")");
    }
  }
  if (c.training.optimizer == Optimizer::kSgd && c.training.nesterov && c.training.momentum <= 0) {
    r.fail("training.nesterov", "needs training.momentum above 0");
  }
  if (c.model.type == ModelType::kVgg16Transfer && c.model.weights.empty()) {
    r.fail("model.weights",
           "required for vgg16_transfer: the pretrained weights file, or "
           "\"random\" for an untrained backbone (then not transfer learning)");
  }
}

}  // namespace

bool is_device_spec(const std::string& spec) {
  if (spec == "auto" || spec == "cpu" || spec == "cuda") return true;
  const std::string prefix = "cuda:";
  // N: 1-4 digits (so that it always parses; no machine has 10,000 GPUs).
  return spec.size() > prefix.size() && spec.size() <= prefix.size() + 4 &&
         spec.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(spec.begin() + long(prefix.size()), spec.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

void resolve_cache_dir(OutputConfig& output) {
  if (output.cache_dir == "auto") output.cache_dir = (fs::path(output.dir) / ".cache").string();
}

std::string transfer_kind(const ModelConfig& model) {
  if (model.type != ModelType::kVgg16Transfer) return "none";
  return model.weights == "random" ? "random" : "pretrained";
}

std::vector<std::string> selections_on_validation(const TrainingConfig& training) {
  if (training.validation == Validation::kNone) return {};
  const auto on_validation = [](Monitor m) {
    return m == Monitor::kValLoss || m == Monitor::kValAccuracy;
  };
  std::vector<std::string> keys;
  if (training.early_stopping && on_validation(training.early_stopping->monitor)) {
    keys.push_back("training.early_stopping");
    if (training.early_stopping->restore_best_weights)
      keys.push_back("training.early_stopping.restore_best_weights");
  }
  if (training.lr_schedule == LrSchedule::kReduceOnPlateau && on_validation(training.lr_monitor)) {
    keys.push_back("training.lr_schedule");
  }
  return keys;
}

std::optional<std::string> selected_on(const TrainingConfig& training) {
  if (selections_on_validation(training).empty()) return std::nullopt;
  return to_string(training.validation);
}

Preprocess resolve_preprocess(const ModelConfig& config) {
  if (config.preprocess != Preprocess::kAuto) return config.preprocess;
  return config.weights_format == WeightsFormat::kTorchvision ? Preprocess::kImagenet
                                                              : Preprocess::kCaffe;
}

bool AugmentationConfig::any_geometric() const {
  return rotation_range > 0 || width_shift_range > 0 || height_shift_range > 0 ||
         zoom_lower != 1.0 || zoom_upper != 1.0 || shear_range > 0;
}

ExperimentConfig parse_config(const json& doc, const std::string& source,
                              const std::map<std::string, std::string>& origins,
                              bool drop_inapplicable) {
  ExperimentConfig c;
  ObjectReader r(doc, "", source, origins);
  read_fields(r, kTopLevelFields, c);
  read_object(r, "data", kDataFields, c.data);
  const json& model = read_object(r, "model", kModelFields, c.model);
  const json& augmentation = read_object(r, "augmentation", kAugmentationFields, c.augmentation);
  const json& training = read_object(r, "training", kTrainingFields, c.training);
  // AdamW's decay when not given: PyTorch's default (0 would make it Adam).
  const auto decay = training.find("weight_decay");
  if (c.training.optimizer == Optimizer::kAdamW && (decay == training.end() || decay->is_null())) {
    c.training.weight_decay = 0.01;
  }
  const json& output = read_object(r, "output", kOutputFields, c.output);
  r.reject_unknown_keys();
  // Once every key is read, since whether one applies depends on others (model.type).
  if (!drop_inapplicable) {
    refuse_inapplicable(model, "model", kModelFields, c, r);
    refuse_inapplicable(augmentation, "augmentation", kAugmentationFields, c, r);
    refuse_inapplicable(training, "training", kTrainingFields, c, r);
    refuse_inapplicable(output, "output", kOutputFields, c, r);
  }
  check_combinations(c, r);
  return c;
}

json to_json(const ExperimentConfig& c) {
  json doc = write_fields(kTopLevelFields, c);
  doc["data"] = write_fields(kDataFields, c.data);
  // No data.dir means "look in the usual places" (resolve_data_dir); "" would not parse back.
  if (c.data.dir.empty()) doc["data"].erase("dir");
  // Only the keys that apply (as parse_config accepts only those).
  doc["model"] = write_fields(kModelFields, c.model, &c);
  doc["augmentation"] = write_fields(kAugmentationFields, c.augmentation, &c);
  doc["training"] = write_fields(kTrainingFields, c.training, &c);
  doc["output"] = write_fields(kOutputFields, c.output, &c);
  return doc;
}

namespace {

// Lists the keys of `fields` (a section's, under `prefix`: "model.") into `keys`: `in`'s value
// where a key applies, else S's default. `parent_why`, when not "", is why the object holding
// them does not apply, which decides for all of them.
template <class S>
json list_keys(const std::string& prefix, const Fields<S>& fields, const S& in,
               const ExperimentConfig& config, const std::string& parent_why = "") {
  const S defaults{};
  json keys = json::array();
  for (const auto& field : fields) {
    const std::string why = parent_why.empty() ? why_not_applies(field, &config) : parent_why;
    json value = json::object(), default_value = json::object();
    field.write(field.key, why.empty() ? in : defaults, value);
    field.write(field.key, defaults, default_value);
    keys.push_back({{"key", prefix + field.key},
                    {"value", value[field.key]},
                    {"default", default_value[field.key]},
                    {"applies", why.empty()},
                    {"why_not", why}});
  }
  return keys;
}

// The keys of an optional object (at `key`, absent: null) after the entry of `key` in `keys`:
// they apply where the object does and is given.
template <class S>
void list_nested_keys(json& keys, const std::string& key, const Fields<S>& fields,
                      const std::optional<S>& in, const ExperimentConfig& config) {
  auto at = std::find_if(keys.begin(), keys.end(), [&](const json& k) { return k["key"] == key; });
  std::string why = (*at)["why_not"];
  if (why.empty() && !in) why = "only applies when " + key + " is set";
  const json nested = list_keys(key + ".", fields, in.value_or(S{}), config, why);
  keys.insert(at + 1, nested.begin(), nested.end());
}

// Keys whose struct default, "", stands for no value: name and model.weights are required
// (model.weights where it applies), data.dir "" means resolve_data_dir's search, which ends in
// kDefaultDataDir.
void fill_unset_defaults(json& keys) {
  const std::map<std::string, json> defaults = {
      {"name", nullptr}, {"model.weights", nullptr}, {"data.dir", kDefaultDataDir}};
  for (json& key : keys) {
    const auto it = defaults.find(key["key"]);
    if (it == defaults.end()) continue;
    key["default"] = it->second;
    if (key["value"] == "") key["value"] = it->second;
  }
}

}  // namespace

json config_keys(const ExperimentConfig& c) {
  json keys = list_keys("", kTopLevelFields, c, c);
  for (json section :
       {list_keys("data.", kDataFields, c.data, c), list_keys("model.", kModelFields, c.model, c),
        list_keys("augmentation.", kAugmentationFields, c.augmentation, c),
        list_keys("training.", kTrainingFields, c.training, c),
        list_keys("output.", kOutputFields, c.output, c)}) {
    keys.insert(keys.end(), section.begin(), section.end());
  }
  list_nested_keys(keys, "augmentation.random_crop", kRandomCropFields, c.augmentation.random_crop,
                   c);
  list_nested_keys(keys, "training.early_stopping", kEarlyStoppingFields, c.training.early_stopping,
                   c);
  fill_unset_defaults(keys);
  // What the program makes of some keys, so that scripts need no copy of these rules.
  json derived = {{"augmentation.any_geometric", c.augmentation.any_geometric()}};
  if (c.model.type == ModelType::kVgg16Transfer)
    derived["model.preprocess"] = to_string(resolve_preprocess(c.model));
  return {{"keys", keys}, {"derived", derived}};
}

ExperimentConfig load_config(const std::string& name, const ConfigOverrides& overrides) {
  const std::string path = find_config(name);
  json doc = read_json_file(path);
  std::map<std::string, std::string> origins;
  apply_overrides(doc, overrides, origins);
  return parse_config(doc, path, origins);
}

ExperimentConfig load_run_folder_config(const std::string& path, const ConfigOverrides& overrides) {
  json doc = read_json_file(path);
  std::map<std::string, std::string> origins;
  apply_overrides(doc, overrides, origins);
  return parse_config(doc, path, origins, /*drop_inapplicable=*/true);
}

}  // namespace cifar_exp
