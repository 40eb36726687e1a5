// Tests for config.h: parsing, defaults, one-line errors, round trips (overrides:
// overrides_test.cpp).
#include "cifar_exp/config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "cifar_exp/io/errors.h"
#include "config_test_support.h"
#include "test_paths.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// The ConfigError message for `doc`, or "" when it parses.
std::string error_for(const json& doc) {
  try {
    parse_config(doc, "c.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsMatchTheNotebook) {
  const auto c = parse_config(minimal(), "c.json");
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.model.type, ModelType::kSmallCnn);
  EXPECT_EQ(c.training.batch_size, 64);
  EXPECT_EQ(c.training.epochs, 10);
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(c.training.epsilon, 1e-7);
  EXPECT_EQ(c.training.device, "auto");
  EXPECT_EQ(c.output.dir, "runs");
  EXPECT_FALSE(c.augmentation.enabled);
  EXPECT_TRUE(c.data.dir.empty());
}

TEST(Config, ShippedConfigsParse) {
  for (const char* name :
       {"no_aug_no_tl.json", "aug_no_tl.json", "no_aug_tl.json", "aug_tl.json", "smoke.json"}) {
    const auto c = load_config(std::string(CIFAR_EXP_SOURCE_DIR) + "/configs/" + name);
    EXPECT_FALSE(c.name.empty()) << name;
  }
  const auto notebook =
      load_config(std::string(CIFAR_EXP_SOURCE_DIR) + "/configs/no_aug_no_tl.json");
  EXPECT_EQ(notebook.training.batch_size, 64);
  EXPECT_EQ(notebook.training.epochs, 10);
  EXPECT_DOUBLE_EQ(notebook.training.learning_rate, 1e-3);
  EXPECT_EQ(notebook.model.type, ModelType::kSmallCnn);
  EXPECT_FALSE(notebook.augmentation.enabled);
  ASSERT_TRUE(notebook.reference_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*notebook.reference_accuracy, 0.7090);
}

// Timing runs without the ImageNet weights (gpu_check.sh, a `--grid model.weights=random,FILE`
// ablation) switch the shipped transfer configs to a random backbone: none of their keys may then
// become inapplicable (an explicit weights_format would be refused).
TEST(Config, ShippedTransferConfigsTakeARandomBackbone) {
  for (const char* name : {"no_aug_tl.json", "aug_tl.json"}) {
    ConfigOverrides random_backbone;
    random_backbone.set = {"model.weights=random"};
    const auto c =
        load_config(std::string(CIFAR_EXP_SOURCE_DIR) + "/configs/" + name, random_backbone);
    EXPECT_EQ(transfer_kind(c.model), "random") << name;
    EXPECT_EQ(c.model.weights_format, WeightsFormat::kKerasH5) << name;
  }
}

TEST(Config, ReadsEveryKey) {
  json doc = {{"name", "full"},
              {"data", {{"dir", "/d"}, {"train_limit", 100}, {"test_limit", 50}}},
              {"training",
               {{"epochs", 3},
                {"batch_size", 32},
                {"learning_rate", 0.01},
                {"seed", 7},
                {"device", "cuda:1"},
                {"threads", 2},
                {"eval_batch_size", 10}}},
              {"output", {{"dir", "out"}, {"save_model", false}}}};
  const auto c = parse_config(doc, "c.json");
  EXPECT_EQ(c.data.dir, "/d");
  EXPECT_EQ(*c.data.train_limit, 100);
  EXPECT_EQ(*c.data.test_limit, 50);
  EXPECT_EQ(c.training.epochs, 3);
  EXPECT_EQ(c.training.batch_size, 32);
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 0.01);
  EXPECT_EQ(c.training.seed, 7u);
  EXPECT_EQ(c.training.device, "cuda:1");
  EXPECT_EQ(c.training.threads, 2);
  EXPECT_EQ(c.training.eval_batch_size, 10);
  EXPECT_EQ(c.output.dir, "out");
  EXPECT_FALSE(c.output.save_model);
}

struct BadCase {
  const char* label;
  json doc;
  const char* expected;  // exact message
};

TEST(Config, RejectsBadValuesWithTheirPath) {
  const std::vector<BadCase> cases = {
      {"negative batch",
       {{"name", "t"}, {"training", {{"batch_size", -3}}}},
       "c.json: training.batch_size: must be a positive integer, got -3"},
      {"string epochs",
       {{"name", "t"}, {"training", {{"epochs", "10"}}}},
       "c.json: training.epochs: must be a positive integer, got \"10\""},
      {"float epochs",
       {{"name", "t"}, {"training", {{"epochs", 2.5}}}},
       "c.json: training.epochs: must be a positive integer, got 2.5"},
      {"unknown top key",
       {{"name", "t"}, {"trainig", json::object()}},
       "c.json: trainig: unknown key"},
      {"unknown nested key",
       {{"name", "t"}, {"training", {{"lr", 0.1}}}},
       "c.json: training.lr: unknown key"},
      {"zero lr",
       {{"name", "t"}, {"training", {{"learning_rate", 0}}}},
       "c.json: training.learning_rate: must be a number in (0, 10], got 0"},
      {"bad device",
       {{"name", "t"}, {"training", {{"device", "gpu"}}}},
       "c.json: training.device: must be auto, cpu, cuda or cuda:N, got \"gpu\""},
      {"bad model",
       {{"name", "t"}, {"model", {{"type", "resnet"}}}},
       "c.json: model.type: must be one of small_cnn, vgg16_transfer, got \"resnet\""},
      {"bad kernels",
       {{"name", "t"}, {"model", {{"kernels", "fast"}}}},
       "c.json: model.kernels: must be one of auto, own, fused, generic, got \"fast\""},
      {"section not object",
       {{"name", "t"}, {"training", 5}},
       "c.json: training: must be an object, got 5"},
      {"missing name", json::object(), "c.json: name: is required"},
      {"bad name", {{"name", "a/b"}}, ""},
      {"zero train limit",
       {{"name", "t"}, {"data", {{"train_limit", 0}}}},
       "c.json: data.train_limit: must be a positive integer, got 0"},
      {"negative rotation",
       {{"name", "t"}, {"augmentation", {{"rotation_range", -5}}}},
       "c.json: augmentation.rotation_range: must be a number of degrees in [0, 360], got -5"},
      {"fill mode",
       {{"name", "t"}, {"augmentation", {{"fill_mode", "mirror"}}}},
       "c.json: augmentation.fill_mode: must be one of nearest, constant, reflect, wrap, got "
       "\"mirror\""},
      {"crop too large",
       {{"name", "t"}, {"augmentation", {{"random_crop", {{"padding", 0}, {"size", 40}}}}}},
       "c.json: augmentation.random_crop.size: crop of 40 is larger than the padded image (32)"},
      {"bad convolution",
       {{"name", "t"}, {"model", {{"type", "vgg16_transfer"}, {"convolution", "fft"}}}},
       "c.json: model.convolution: must be one of auto, direct, winograd, winograd_avx2, "
       "winograd_avx512, got "
       "\"fft\""},
      {"convolution on small cnn",
       {{"name", "t"}, {"model", {{"convolution", "direct"}}}},
       "c.json: model.convolution: only applies to model.type \"vgg16_transfer\""},
      {"weights on small cnn",
       {{"name", "t"}, {"model", {{"weights", "x.h5"}}}},
       "c.json: model.weights: only applies to model.type \"vgg16_transfer\""},
      {"not an object", json::array(), "c.json: top level: must be an object, got []"},
  };
  for (const auto& c : cases) {
    const std::string message = error_for(c.doc);
    if (std::string(c.expected).empty()) {
      EXPECT_NE(message.find("name:"), std::string::npos) << c.label << ": " << message;
    } else {
      EXPECT_EQ(message, c.expected) << c.label;
    }
  }
}

// Names and device strings are checked by loops over characters, not std::regex, whose matcher
// recursed once per character: a long enough --set value ended in a stack overflow (SIGSEGV).
TEST(Config, NamesAndDevicesOfAnyLengthAreCheckedWithoutRecursion) {
  EXPECT_FALSE(is_device_spec("cuda:" + std::string(1000000, '7')));  // N has at most 4 digits
  EXPECT_FALSE(is_device_spec("cuda:" + std::string(1000000, '7') + "x"));
  EXPECT_FALSE(is_device_spec(std::string(1000000, 'c')));
  for (const std::string good : {"auto", "cpu", "cuda", "cuda:0", "cuda:12", "cuda:9999"}) {
    EXPECT_TRUE(is_device_spec(good)) << good;
  }
  for (const std::string bad :
       {"", "gpu", "cuda:", "cuda:-1", "cuda:1 ", "CPU", "cuda0", "cuda:10000"}) {
    EXPECT_FALSE(is_device_spec(bad)) << bad;
  }
  for (const std::string good : {"training.epochs", "a", "a_b.c0", "x.y.z"}) {
    EXPECT_TRUE(is_config_key_path(good)) << good;
  }
  for (const std::string bad : {"", ".a", "a.", "a..b", "A", "a-b", "a b"}) {
    EXPECT_FALSE(is_config_key_path(bad)) << bad;
  }
  const auto name_error = [](const std::string& name) { return error_for({{"name", name}}); };
  for (const std::string good : {"a", "no_aug-1.0", "base+training.epochs=30",
                                 "b+augmentation.zoom_range=0.8_1.2+training.seed=", "9"}) {
    EXPECT_EQ(name_error(good), "") << good;
  }
  for (const std::string bad : std::vector<std::string>{
           "", "-a", "a+", "+x=1", "a+x", "a+X=1", "a+x..y=1", "a+x=1+", "a+x=1/2", "a b",
           std::string(101, 'a'), std::string(100000, 'a')}) {
    EXPECT_NE(name_error(bad).find("c.json: name: must be 1-100 letters"), std::string::npos)
        << bad.substr(0, 40);
  }
}

TEST(Config, DeeplyNestedJsonAndNonUtf8SetValuesAreRefusedInOneLine) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_json_text(deep, "deep.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "deep.json: invalid JSON: JSON nested deeper than 64 levels");
  }
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_json_text(ok, "ok.json").is_array());
  EXPECT_FALSE(try_parse_json(deep).has_value());
  EXPECT_FALSE(try_parse_json("{").has_value());
  EXPECT_EQ(try_parse_json("[1]").value(), nlohmann::json::parse("[1]"));
  const auto set_error = [](const std::string& assignment) {
    ConfigOverrides overrides;
    overrides.set = {assignment};
    nlohmann::json doc = {{"name", "x"}};
    std::map<std::string, std::string> origins;
    try {
      apply_overrides(doc, overrides, origins);
      parse_config(doc, "x.json", origins);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string long_path = "a";
  for (int i = 0; i < 60000; ++i) long_path += ".a";
  EXPECT_NE(set_error(long_path + "=1").find("...: a key path of more than 64 keys"),
            std::string::npos);
  EXPECT_EQ(set_error("model.type=" + deep),
            "--set model.type: invalid JSON: JSON nested deeper than 64 levels");
  EXPECT_EQ(set_error("augmentation.enabled=\xff\xfe"),
            "--set augmentation.enabled: the value is not valid UTF-8 text");
  EXPECT_EQ(set_error("output.dir=caf\xc3"), "--set output.dir: the value is not valid UTF-8 text");
}

TEST(Config, PrecisionAndRequiredWeights) {
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"precision", "bf16"}}}}), "");
  EXPECT_NE(error_for({{"name", "t"}, {"training", {{"precision", "fp16"}}}})
                .find("training.precision: must be one of fp32, bf16"),
            std::string::npos);
  // A transfer run without weights is refused unless "random" is explicit.
  EXPECT_NE(error_for({{"name", "t"}, {"model", {{"type", "vgg16_transfer"}}}})
                .find("model.weights: required for vgg16_transfer"),
            std::string::npos);
  EXPECT_EQ(
      error_for({{"name", "t"}, {"model", {{"type", "vgg16_transfer"}, {"weights", "random"}}}}),
      "");
}

TEST(Config, NumbersTooLargeForADoubleAreAConfigError) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "t", "training": {"epochs": 1e999}})");
  try {
    load_config(dir / "c.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {  // found by fuzz_config: was an uncaught json exception
    EXPECT_EQ(std::string(e.what()).rfind(dir / "c.json: invalid JSON: number overflow", 0), 0u)
        << e.what();
  }
}

TEST(Config, NumbersFloat32TurnsToZeroOrInfinityAreRefusedByKey) {
  // Training computes in float32: a non-zero value that becomes 0 (epsilon 1e-50: a division by
  // zero in Adam) or infinite there is refused by the one reader of every number key.
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"epsilon", 1e-50}}}}),
            "c.json: training.epsilon: must be a number in (0, 1] that float32 can hold, got "
            "1e-50, which is 0 as a float32 (training computes in float32)");
  EXPECT_EQ(
      error_for({{"name", "t"}, {"training", {{"optimizer", "sgd"}, {"weight_decay", 1e-46}}}}),
      "c.json: training.weight_decay: must be a number in [0, 10] that float32 can hold, got "
      "1e-46, which is 0 as a float32 (training computes in float32)");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"early_stopping", {{"baseline", -1e39}}}}}}),
            "c.json: training.early_stopping.baseline: must be a number or null that float32 can "
            "hold, got -1e+39, which is -inf as a float32 (training computes in float32)");
  EXPECT_EQ(error_for({{"name", "t"},
                       {"augmentation", {{"enabled", true}, {"zoom_range", {1e-50, 1.0}}}}}),
            "c.json: augmentation.zoom_range: must be a pair [lower, upper] that float32 can "
            "hold, got 1e-50, which is 0 as a float32 (training computes in float32)");
  // Ranges are checked first; 0 itself, and the smallest float32 (1e-45, a denormal), are fine.
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"learning_rate", 1e39}}}}),
            "c.json: training.learning_rate: must be a number in (0, 10], got 1e+39");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"epsilon", 1e-45}}}}), "");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"optimizer", "sgd"}, {"weight_decay", 0}}}}),
            "");
}

TEST(Config, ResolvedFormParsesBack) {
  // Found by fuzz_config: an unset data.dir was written as "" which did not parse back.
  const auto config = parse_config({{"name", "t"}}, "c.json");
  const auto again = parse_config(to_json(config), "config.json");
  EXPECT_EQ(to_json(again), to_json(config));
}

TEST(Config, SyntaxErrorsNameFileLineAndColumn) {
  testing::TempDir dir;
  testing::write_text(dir / "broken.json", "{\n  \"name\": \"t\",\n  \"training\": {,}\n}\n");
  try {
    load_config(dir / "broken.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(dir / "broken.json:3:16: invalid JSON", 0), 0u) << message;
  }
  try {
    load_config(dir / "absent.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir / "absent.json: cannot open file");
  }
}

TEST(Config, ResolvedConfigRoundTrips) {
  json doc = {{"name", "rt"},
              {"reference_accuracy", 0.5},
              {"data", {{"dir", "/x"}, {"train_limit", 10}}},
              {"training", {{"epochs", 4}, {"seed", 123}}}};
  const auto first = parse_config(doc, "a");
  const auto second = parse_config(to_json(first), "b");
  EXPECT_EQ(to_json(first), to_json(second));
  EXPECT_EQ(second.training.seed, 123u);
  EXPECT_EQ(*second.data.train_limit, 10);
}

// A document with every key at a value unlike its default (but training.optimizer and
// output.tensorboard); the keys of the other optimizers, schedules and of TensorBoard off
// round-trip in their own documents (EveryFieldRoundTripsInTheOtherDocuments).
json every_field_document() {
  return {{"name", "every+training.epochs=3"},
          {"description", "all keys"},
          {"reference_accuracy", 0.75},
          {"data", {{"dir", "/d"}, {"train_limit", 100}, {"test_limit", 50}}},
          {"model",
           {{"type", "vgg16_transfer"},
            {"weights", "w.h5"},
            {"weights_format", "torchvision"},
            {"preprocess", "caffe"},
            {"input_size", 64},
            {"hidden_units", 128},
            {"dropout", 0.25},
            {"trainable_blocks", 2},
            {"kernels", "generic"},
            {"convolution", "direct"}}},
          {"augmentation",
           {{"enabled", true},
            {"rotation_range", 15.5},
            {"width_shift_range", 0.1},
            {"height_shift_range", 2.0},
            {"horizontal_flip", true},
            {"vertical_flip", true},
            {"zoom_range", {0.8, 1.25}},
            {"shear_range", 5.0},
            {"fill_mode", "constant"},
            {"cval", -1.5},
            {"random_crop", {{"padding", 4}, {"size", 30}}},
            {"cutout", 8}}},
          {"training",
           {{"epochs", 3},
            {"batch_size", 32},
            {"eval_batch_size", 250},
            {"optimizer", "adam"},
            {"validation", "split"},
            {"validation_split", 0.2},
            {"learning_rate", 0.01},
            {"beta1", 0.8},
            {"beta2", 0.99},
            {"epsilon", 1e-8},
            {"seed", 7},
            {"device", "cuda:1"},
            {"threads", 2},
            {"precision", "bf16"},
            {"tf32", true},
            {"lr_schedule", "cosine"},
            {"lr_warmup_epochs", 1},
            {"lr_min", 1e-5},
            {"early_stopping",
             {{"monitor", "val_accuracy"},
              {"mode", "max"},
              {"patience", 3},
              {"min_delta", 0.01},
              {"baseline", 0.9},
              {"restore_best_weights", true},
              {"start_from_epoch", 1}}}}},
          {"output",
           {{"dir", "out"},
            {"save_model", false},
            {"cache_dir", ""},
            {"tensorboard", true},
            {"tensorboard_batch_interval", 10}}}};
}

// The document's leaves, with the objects that are null by default.
std::set<std::string> every_field_leaves(const json& doc) {
  std::set<std::string> leaves{"augmentation.random_crop", "training.early_stopping"};
  collect_leaves(doc, "", leaves);
  return leaves;
}

// Every key with a value unlike its default: parse_config reads each into the struct, to_json
// writes each back as given (integers as integers, numbers as numbers), and that parses again
// to the same config.
TEST(Config, EveryFieldRoundTrips) {
  const json doc = every_field_document();
  const std::set<std::string> leaves = every_field_leaves(doc);
  ExperimentConfig vgg16;  // the defaults, with the keys only VGG16 models write
  vgg16.model.type = ModelType::kVgg16Transfer;
  json defaults = to_json(vgg16);
  defaults["model"]["type"] = ExperimentConfig{}.model.type;
  for (const auto& path : leaves) {
    if (path == "training.optimizer" || path == "augmentation.random_crop" ||
        path == "training.early_stopping" || path == "output.tensorboard") {
      continue;
    }
    const auto pointer = pointer_of(path);
    EXPECT_NE(defaults.contains(pointer) ? defaults.at(pointer) : json(), doc.at(pointer)) << path;
  }

  const auto config = parse_config(doc, "c.json");
  EXPECT_EQ(config.training.seed, 7u);
  EXPECT_DOUBLE_EQ(config.augmentation.zoom_lower, 0.8);
  EXPECT_DOUBLE_EQ(config.augmentation.zoom_upper, 1.25);
  ASSERT_TRUE(config.augmentation.random_crop.has_value());
  EXPECT_EQ(config.augmentation.random_crop->size, 30);
  ASSERT_TRUE(config.reference_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*config.reference_accuracy, 0.75);
  const json written = to_json(config);
  EXPECT_EQ(written.dump(), doc.dump());
  EXPECT_EQ(to_json(parse_config(written, "config.json")).dump(), written.dump());
}

// The other optimizers', schedules' and TensorBoard-off documents round-trip too, and with them
// the documents hold every leaf of a resolved config.
TEST(Config, EveryFieldRoundTripsInTheOtherDocuments) {
  const json doc = every_field_document();
  const std::set<std::string> leaves = every_field_leaves(doc);
  const std::map<std::string, json> other_optimizers = {
      {"sgd",
       {{"optimizer", "sgd"}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}},
      {"rmsprop", {{"optimizer", "rmsprop"}, {"rho", 0.95}, {"momentum", 0.5}, {"epsilon", 1e-6}}},
  };
  const std::map<std::string, json> other_schedules = {
      {"step", {{"lr_schedule", "step"}, {"lr_step_epochs", 2}, {"lr_gamma", 0.5}}},
      {"onecycle", {{"lr_schedule", "onecycle"}, {"lr_pct_start", 0.25}}},
      {"reduce_on_plateau",
       {{"lr_schedule", "reduce_on_plateau"},
        {"lr_min", 1e-5},
        {"lr_monitor", "val_accuracy"},
        {"lr_factor", 0.5},
        {"lr_patience", 2},
        {"lr_cooldown", 1},
        {"lr_min_delta", 0.01}}},
  };
  std::set<std::string> all_leaves = leaves;
  const auto variant = [&](const std::vector<const char*>& erase, const json& keys) {
    json other = doc;
    for (const char* key : erase) other["training"].erase(key);
    other["training"].update(keys);
    return other;
  };
  for (const auto& [name, keys] : other_schedules) {
    const json other = variant({"lr_schedule", "lr_warmup_epochs", "lr_min"}, keys);
    EXPECT_EQ(to_json(parse_config(other, "c.json")).dump(), other.dump()) << name;
    collect_leaves(other, "", all_leaves);
  }
  for (const auto& [name, keys] : other_optimizers) {
    const json other = variant({"beta1", "beta2", "epsilon"}, keys);
    const json written = to_json(parse_config(other, "c.json"));
    EXPECT_EQ(written.dump(), other.dump()) << name;
    collect_leaves(other, "", all_leaves);
  }
  {  // TensorBoard off: its batch interval does not apply
    json other = doc;
    other["output"] = {
        {"dir", "out"}, {"save_model", false}, {"cache_dir", ""}, {"tensorboard", false}};
    EXPECT_EQ(to_json(parse_config(other, "c.json")).dump(), other.dump());
    collect_leaves(other, "", all_leaves);
  }
  EXPECT_EQ(all_leaves, every_leaf());
}

}  // namespace
}  // namespace cifar_exp

namespace cifar_exp {
namespace {

// Every key path of a resolved config ("model.dropout"), objects that are values kept whole
// (augmentation.random_crop).
void collect_keys(const json& object, const std::string& prefix, std::set<std::string>& keys) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && prefix.empty()) {
      collect_keys(*it, path, keys);
    } else {
      keys.insert(path);
    }
  }
}

json::json_pointer pointer(const std::string& key_path) {
  std::string text = "/" + key_path;
  std::replace(text.begin(), text.end(), '.', '/');
  return json::json_pointer(text);
}

// One rule decides both what parse_config accepts and what to_json writes: in every kind of
// config, each key either appears in the resolved config (and can be given) or is refused,
// naming the key and why it does not apply.
TEST(Config, EveryKeyEitherAppliesOrIsRefused) {
  // A config where every key applies, for the values to try.
  const json everything = to_json(parse_config(
      json::parse(R"({"name": "all", "data": {"dir": "d", "train_limit": 5, "test_limit": 5},
        "model": {"type": "vgg16_transfer", "weights": "w.h5"},
        "augmentation": {"enabled": true, "fill_mode": "constant",
                         "random_crop": {"padding": 2, "size": 32}},
        "training": {"validation": "split"}})"),
      "all.json"));
  std::set<std::string> all_keys;
  collect_keys(everything, "", all_keys);
  ASSERT_GT(all_keys.size(), 35u);

  const std::vector<std::string> kinds = {
      R"({"name": "k"})",
      R"({"name": "k", "augmentation": {"enabled": true}, "training": {"validation": "none"}})",
      R"({"name": "k", "model": {"type": "vgg16_transfer", "weights": "random"}})",
      R"({"name": "k", "model": {"type": "vgg16_transfer", "weights": "w.h5"},
          "augmentation": {"enabled": true, "fill_mode": "wrap"}})",
      R"({"name": "k", "training": {"validation": "split"},
          "augmentation": {"enabled": true, "fill_mode": "constant"}})",
  };
  for (const auto& kind : kinds) {
    const json base = json::parse(kind);
    const json resolved = to_json(parse_config(base, "k.json"));
    std::set<std::string> resolved_keys;
    collect_keys(resolved, "", resolved_keys);
    for (const auto& key : resolved_keys) {
      EXPECT_TRUE(all_keys.count(key)) << kind << ": " << key << " missing from the full config";
    }
    for (const auto& key : all_keys) {
      if (key == "data.dir") continue;  // written only when set: "" would mean no folder
      json doc = base;
      const bool applies = resolved_keys.count(key) > 0;
      // A key that applies is given its resolved value (nothing changes); one that does not,
      // a value it could have elsewhere.
      doc[pointer(key)] = applies ? resolved.at(pointer(key)) : everything.at(pointer(key));
      const std::string message = error_for(doc);
      if (applies) {
        EXPECT_EQ(message, "") << kind << ": " << key;
        if (message.empty()) EXPECT_EQ(to_json(parse_config(doc, "k.json")), resolved) << key;
      } else {
        EXPECT_EQ(message.rfind("c.json: " + key + ": ", 0), 0u) << kind << ": " << message;
        EXPECT_TRUE(message.find("only applies") != std::string::npos ||
                    message.find("does not apply") != std::string::npos)
            << kind << ": " << message;
      }
    }
  }
}

TEST(Config, ValidationSettings) {
  EXPECT_EQ(parse_config(minimal(), "c.json").training.validation, Validation::kTest);
  const auto split = parse_config(
      {{"name", "t"}, {"training", {{"validation", "split"}, {"validation_split", 0.2}}}},
      "c.json");
  EXPECT_EQ(split.training.validation, Validation::kSplit);
  EXPECT_DOUBLE_EQ(split.training.validation_split, 0.2);
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"validation", "holdout"}}}}),
            "c.json: training.validation: must be one of test, split, none, got \"holdout\"");
  EXPECT_EQ(
      error_for({{"name", "t"}, {"training", {{"validation", "split"}, {"validation_split", 1}}}}),
      "c.json: training.validation_split: must be a fraction in (0, 1), got 1");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"validation_split", 0.1}}}}),
            "c.json: training.validation_split: only applies when training.validation is "
            "\"split\"");
}

TEST(Config, OptimizerSettingsApplyToTheirOptimizers) {
  const auto adamw =
      parse_config({{"name", "t"}, {"training", {{"optimizer", "adamw"}}}}, "c.json");
  EXPECT_EQ(adamw.training.optimizer, Optimizer::kAdamW);
  EXPECT_DOUBLE_EQ(adamw.training.weight_decay, 0.01);  // PyTorch's AdamW default when not given
  EXPECT_EQ(to_json(adamw)["training"]["weight_decay"], 0.01);
  const auto sgd = parse_config(
      {{"name", "t"},
       {"training",
        {{"optimizer", "sgd"}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}}},
      "c.json");
  EXPECT_DOUBLE_EQ(sgd.training.momentum, 0.9);
  EXPECT_TRUE(sgd.training.nesterov);
  EXPECT_FALSE(to_json(sgd)["training"].contains("beta1"));  // Adam's settings are left out
  EXPECT_DOUBLE_EQ(parse_config({{"name", "t"}, {"training", {{"optimizer", "sgd"}}}}, "c.json")
                       .training.weight_decay,
                   0.0);
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"optimizer", "sgd"}, {"beta1", 0.8}}}}),
            "c.json: training.beta1: only applies to training.optimizer \"adam\", \"adamw\"");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"momentum", 0.9}}}}),
            "c.json: training.momentum: only applies to training.optimizer \"sgd\", \"rmsprop\"");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"optimizer", "sgd"}, {"nesterov", true}}}}),
            "c.json: training.nesterov: needs training.momentum above 0");
  EXPECT_EQ(error_for({{"name", "t"}, {"training", {{"optimizer", "lamb"}}}}),
            "c.json: training.optimizer: must be one of adam, adamw, sgd, rmsprop, got \"lamb\"");
}

// Run folders from earlier versions wrote every key; reading them back drops what does not apply.
TEST(Config, RunFolderConfigsFromEarlierVersionsStillRead) {
  testing::TempDir dir;
  testing::write_text(dir / "config.json", R"({"name": "old",
    "model": {"type": "small_cnn", "kernels": "fused"},
    "augmentation": {"enabled": false, "rotation_range": 0.0, "fill_mode": "nearest",
                     "cval": 0.0, "random_crop": null}})");
  EXPECT_THROW(load_config(dir / "config.json"), ConfigError);
  const auto config = load_run_folder_config(dir / "config.json", {});
  EXPECT_EQ(config.name, "old");
  EXPECT_EQ(to_json(config)["augmentation"], json({{"enabled", false}}));
}

TEST(Config, CacheFolderDefaultsToBesideTheRuns) {
  auto config = parse_config(minimal(), "c.json");
  EXPECT_EQ(config.output.cache_dir, "auto");
  config.output.dir = "/tmp/somewhere/runs";
  resolve_cache_dir(config.output);
  EXPECT_EQ(config.output.cache_dir, "/tmp/somewhere/runs/.cache");
  config.output.cache_dir = "";
  resolve_cache_dir(config.output);
  EXPECT_EQ(config.output.cache_dir, "");
}

}  // namespace
}  // namespace cifar_exp
