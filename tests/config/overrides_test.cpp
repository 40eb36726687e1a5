// Tests for overrides.h: the typed flags and --set written into a config, every key settable,
// errors naming the flag.
#include "cifar_exp/config/overrides.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "config_test_support.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

TEST(Config, OverridesReplaceKeysAndAreValidatedByFlag) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "t", "training": {"epochs": 5}})");
  ConfigOverrides o;
  o.epochs = 2;
  o.batch_size = 16;
  o.seed = 9;
  o.device = "cpu";
  o.output_dir = "elsewhere";
  o.train_limit = 100;
  o.threads = 1;
  const auto c = load_config(dir / "c.json", o);
  EXPECT_EQ(c.training.epochs, 2);
  EXPECT_EQ(c.training.batch_size, 16);
  EXPECT_EQ(c.training.seed, 9u);
  EXPECT_EQ(c.training.device, "cpu");
  EXPECT_EQ(c.output.dir, "elsewhere");
  EXPECT_EQ(*c.data.train_limit, 100);
  EXPECT_EQ(c.training.threads, 1);

  ConfigOverrides bad;
  bad.batch_size = -3;
  try {
    load_config(dir / "c.json", bad);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--batch-size (training.batch_size): must be a positive integer, got -3");
  }
  ConfigOverrides bad_device;
  bad_device.device = "tpu";
  EXPECT_THROW(load_config(dir / "c.json", bad_device), ConfigError);
}

// --set: the config a document gives after the overrides, as parse_config sees it.
ExperimentConfig with_set(const json& doc, const std::vector<std::string>& set) {
  json copy = doc;
  ConfigOverrides o;
  o.set = set;
  std::map<std::string, std::string> origins;
  apply_overrides(copy, o, origins);
  return parse_config(copy, "c.json", origins);
}

// The ConfigError message for `set` applied to {"name": "t"}, or "" when it parses.
std::string set_error(const std::vector<std::string>& set, ConfigOverrides o = {}) {
  json doc = minimal();
  o.set = set;
  std::map<std::string, std::string> origins;
  try {
    apply_overrides(doc, o, origins);
    parse_config(doc, "c.json", origins);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A value for every config key, as typed after "--set KEY=", unlike the default. Bare words are
// strings; the rest is JSON.
const std::map<std::string, std::string> kSetValues = {
    {"name", "other_name"},
    {"description", "\"a sweep\""},
    {"reference_accuracy", "0.5"},
    {"data.dir", "/data/cifar"},
    {"data.train_limit", "1000"},
    {"data.test_limit", "500"},
    {"model.type", "vgg16_transfer"},
    {"model.weights", "w.h5"},
    {"model.weights_format", "torchvision"},
    {"model.preprocess", "unit"},
    {"model.input_size", "64"},
    {"model.hidden_units", "128"},
    {"model.dropout", "0.25"},
    {"model.trainable_blocks", "2"},
    {"model.kernels", "generic"},
    {"model.convolution", "direct"},
    {"augmentation.enabled", "true"},
    {"augmentation.rotation_range", "10"},
    {"augmentation.width_shift_range", "0.1"},
    {"augmentation.height_shift_range", "4"},
    {"augmentation.horizontal_flip", "true"},
    {"augmentation.vertical_flip", "true"},
    {"augmentation.zoom_range", "[0.8, 1.2]"},
    {"augmentation.shear_range", "5.5"},
    {"augmentation.fill_mode", "reflect"},
    {"augmentation.cval", "-1"},
    {"augmentation.random_crop", "{\"padding\": 4, \"size\": 32}"},
    {"augmentation.random_crop.padding", "2"},
    {"augmentation.random_crop.size", "30"},
    {"training.early_stopping",
     R"({"monitor": "loss", "mode": "min", "patience": 5, "min_delta": 0.5, "baseline": 1.5,
         "restore_best_weights": false, "start_from_epoch": 0})"},
    {"training.early_stopping.monitor", "accuracy"},
    {"training.early_stopping.mode", "max"},
    {"training.early_stopping.patience", "3"},
    {"training.early_stopping.min_delta", "0.01"},
    {"training.early_stopping.baseline", "0.5"},
    {"training.early_stopping.restore_best_weights", "true"},
    {"training.early_stopping.start_from_epoch", "2"},
    {"augmentation.cutout", "8"},
    {"training.epochs", "30"},
    {"training.batch_size", "128"},
    {"training.eval_batch_size", "250"},
    {"training.optimizer", "sgd"},
    {"training.validation", "split"},
    {"training.validation_split", "0.25"},
    {"training.learning_rate", "3e-4"},
    {"training.beta1", "0.8"},
    {"training.beta2", "0.99"},
    {"training.epsilon", "1e-8"},
    {"training.weight_decay", "5e-4"},
    {"training.momentum", "0.9"},
    {"training.nesterov", "true"},
    {"training.rho", "0.95"},
    {"training.lr_schedule", "cosine"},
    {"training.lr_warmup_epochs", "2"},
    {"training.lr_min", "1e-5"},
    {"training.lr_step_epochs", "3"},
    {"training.lr_gamma", "0.5"},
    {"training.lr_pct_start", "0.25"},
    {"training.lr_monitor", "val_accuracy"},
    {"training.lr_factor", "0.5"},
    {"training.lr_patience", "3"},
    {"training.lr_cooldown", "1"},
    {"training.lr_min_delta", "0.01"},
    {"training.seed", "7"},
    {"training.device", "cpu"},
    {"training.threads", "2"},
    {"training.precision", "bf16"},
    {"training.tf32", "true"},
    {"output.dir", "elsewhere"},
    {"output.save_model", "false"},
    {"output.cache_dir", "\"\""},
    {"output.tensorboard", "false"},
    {"output.tensorboard_batch_interval", "10"},
};

// The --set values a key needs beside its own to apply: VGG16-only keys need a VGG16 model (from
// a weights file for weights_format), augmentation keys augmentation on (cval a constant fill),
// validation_split a held-out validation.
std::vector<std::string> context_for(const std::string& path) {
  const auto starts = [&](const char* prefix) { return path.rfind(prefix, 0) == 0; };
  std::vector<std::string> set;
  if (starts("model.") && path != "model.type") set.push_back("model.type=vgg16_transfer");
  if (starts("model.") && path != "model.weights") set.push_back("model.weights=w.h5");
  if (starts("augmentation.") && path != "augmentation.enabled") {
    set.push_back("augmentation.enabled=true");
  }
  if (path == "augmentation.cval") set.push_back("augmentation.fill_mode=constant");
  if (path == "training.validation_split") set.push_back("training.validation=split");
  if (path == "training.weight_decay" || path == "training.momentum") {
    set.push_back("training.optimizer=sgd");
  }
  if (path == "training.nesterov") {
    set.insert(set.end(), {"training.optimizer=sgd", "training.momentum=0.9"});
  }
  if (path == "training.rho") set.push_back("training.optimizer=rmsprop");
  const std::map<std::string, std::string> schedule_of = {
      {"training.lr_warmup_epochs", "cosine"},       {"training.lr_min", "cosine"},
      {"training.lr_step_epochs", "step"},           {"training.lr_gamma", "step"},
      {"training.lr_pct_start", "onecycle"},         {"training.lr_monitor", "reduce_on_plateau"},
      {"training.lr_factor", "reduce_on_plateau"},   {"training.lr_patience", "reduce_on_plateau"},
      {"training.lr_cooldown", "reduce_on_plateau"}, {"training.lr_min_delta", "reduce_on_plateau"},
  };
  if (const auto it = schedule_of.find(path); it != schedule_of.end()) {
    set.push_back("training.lr_schedule=" + it->second);
  }
  return set;
}

TEST(ConfigSet, EveryKeyIsSettable) {
  const auto leaves = every_leaf();
  EXPECT_GE(leaves.size(), 40u);
  for (const auto& path : leaves) {
    ASSERT_TRUE(kSetValues.count(path)) << "no --set test value for " << path;
    const std::string& text = kSetValues.at(path);
    const auto context = context_for(path);
    auto set = context;
    set.push_back(path + "=" + text);
    json before = to_json(parse_config(minimal(), "c.json"));
    try {
      before = to_json(with_set(minimal(), context));
    } catch (const ConfigError&) {
      // model.type or model.weights alone is incomplete: compare with the defaults.
    }
    json after;
    try {
      after = to_json(with_set(minimal(), set));
    } catch (const ConfigError& e) {
      ADD_FAILURE() << path << ": " << e.what();
      continue;
    }
    json expected = json::parse(text, nullptr, false);
    if (expected.is_discarded()) expected = text;  // a bare word: a string
    EXPECT_EQ(after.at(pointer_of(path)), expected) << path;
    EXPECT_NE(before.contains(pointer_of(path)) ? before.at(pointer_of(path)) : json(), expected)
        << path << ": the test value is the default";
  }
  EXPECT_EQ(kSetValues.size(), leaves.size()) << "kSetValues names a key the config lacks";
}

TEST(ConfigSet, AWrongTypeForAnyKeyNamesTheFlag) {
  for (const auto& path : every_leaf()) {
    auto set = context_for(path);
    set.push_back(path + "={\"bogus\": 1}");
    const std::string message = set_error(set);
    EXPECT_EQ(message.rfind("--set " + path, 0), 0u) << path << ": " << message;
  }
}

TEST(ConfigSet, ErrorsNameTheFlagAndThePath) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"training.epochs=\"ten\""},
       "--set training.epochs: must be a positive integer, got \"ten\""},
      {{"training.epochs=ten"}, "--set training.epochs: must be a positive integer, got \"ten\""},
      {{"training.epochs=0"}, "--set training.epochs: must be a positive integer, got 0"},
      {{"training.lr=0.1"}, "--set training.lr: unknown key"},
      {{"trainig.epochs=3"}, "--set trainig.epochs (trainig): unknown key"},
      {{"training.epochs.x=1"},
       "--set training.epochs.x (training.epochs): must be a positive integer, got {\"x\":1}"},
      {{"augmentation.random_crop={\"padding\": 0, \"size\": 40}"},
       "--set augmentation.random_crop (augmentation.random_crop.size): crop of 40 is larger "
       "than the padded image (32)"},
      {{"training={\"epochs\": -1}"},
       "--set training (training.epochs): must be a positive integer, got -1"},
      {{"training.epochs"},
       "--set training.epochs: expected KEY=VALUE, e.g. --set training.epochs=30"},
      {{"training..epochs=3"},
       "--set training..epochs: not a key path (keys joined by '.', e.g. training.epochs)"},
      {{"=3"}, "--set =3: not a key path (keys joined by '.', e.g. training.epochs)"},
      {{"training.epochs=3", "training.epochs=4"},
       "--set training.epochs: conflicts with --set training.epochs (both set training.epochs)"},
      {{"augmentation={}", "augmentation.enabled=true"},
       "--set augmentation.enabled: conflicts with --set augmentation"},
      {{"name=3"}, "--set name: must be a string, got 3"},
      {{"model.type=vgg16_transfer"},
       "c.json: model.weights: required for vgg16_transfer: the pretrained weights file, or "
       "\"random\" for an untrained backbone (then not transfer learning)"},
      {{"training.validation=none", "training.early_stopping.monitor=val_accuracy"},
       "--set training.early_stopping.monitor: \"val_accuracy\" needs validation "
       "(training.validation is \"none\")"},
      {{"training.early_stopping.start_from_epoch=10"},
       "--set training.early_stopping.start_from_epoch: must be fewer than training.epochs (10)"},
      {{"training.early_stopping.patience=-1"},
       "--set training.early_stopping.patience: must be a non-negative integer, got -1"},
      {{"training.early_stopping.mode=up"},
       "--set training.early_stopping.mode: must be one of auto, min, max, got \"up\""},
      {{"training.early_stopping=3"}, "--set training.early_stopping: must be an object, got 3"},
      {{"training.epsilon=1e-50"},
       "--set training.epsilon: must be a number in (0, 1] that float32 can hold, got 1e-50, "
       "which is 0 as a float32 (training computes in float32)"},
      {{"training.early_stopping.baseline=1e39"},
       "--set training.early_stopping.baseline: must be a number or null that float32 can hold, "
       "got 1e+39, which is inf as a float32 (training computes in float32)"},
      {{"training.early_stopping.baseline=high"},
       "--set training.early_stopping.baseline: must be a number or null, got \"high\""},
  };
  for (const auto& [set, expected] : cases) EXPECT_EQ(set_error(set), expected) << set[0];

  // Text that starts like JSON must be JSON, not silently a string.
  EXPECT_EQ(set_error({"augmentation.zoom_range=[0.8, 1.2"})
                .rfind("--set augmentation.zoom_range: invalid JSON: ", 0),
            0u);
  EXPECT_EQ(set_error({"training.epochs=1e999"}), "--set training.epochs: invalid value 1e999");

  // A shorthand flag and --set of the same key: which one wins would depend on the order.
  ConfigOverrides epochs;
  epochs.epochs = 3;
  EXPECT_EQ(set_error({"training.epochs=30"}, epochs),
            "--set training.epochs: conflicts with --epochs (both set training.epochs)");
  EXPECT_EQ(set_error({"training.epochs=30"}, {}), "");
  ConfigOverrides batch;
  batch.batch_size = -3;  // the shorthands still report themselves as before
  EXPECT_EQ(set_error({}, batch),
            "--batch-size (training.batch_size): must be a positive integer, got -3");
}

TEST(ConfigSet, ValuesAreJsonElseStringsAndNullMeansTheDefault) {
  const json doc = {{"name", "t"},
                    {"model", {{"type", "vgg16_transfer"}, {"weights", "random"}}},
                    {"training", {{"epochs", 5}, {"learning_rate", 0.01}}},
                    {"augmentation", {{"enabled", true}, {"rotation_range", 20}}}};
  const auto c = with_set(
      doc, {"training.learning_rate=3e-4", "model.type=small_cnn", "model.weights=null",
            "training.epochs=null", "augmentation={\"enabled\": true, \"horizontal_flip\": true}",
            "description=two words", "data.dir=/x/y"});
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 3e-4);
  EXPECT_EQ(c.model.type, ModelType::kSmallCnn);
  EXPECT_EQ(c.training.epochs, 10);  // null: the default, not the file's 5
  // A whole section is replaced, not merged: the file's augmentation keys are gone.
  EXPECT_TRUE(c.augmentation.enabled);
  EXPECT_DOUBLE_EQ(c.augmentation.rotation_range, 0);
  EXPECT_TRUE(c.augmentation.horizontal_flip);
  EXPECT_EQ(c.description, "two words");
  EXPECT_EQ(c.data.dir, "/x/y");
  // A value with '=' in it: only the first '=' splits.
  EXPECT_EQ(with_set(minimal(), {"description=a=b"}).description, "a=b");
  // A grid point's name; the base part alone keeps the old rule.
  EXPECT_EQ(
      with_set(minimal(), {"name=base+training.epochs=30+augmentation.zoom_range=0.8_1.2"}).name,
      "base+training.epochs=30+augmentation.zoom_range=0.8_1.2");
  EXPECT_NE(set_error({"name=base+Bad=1"}).find("--set name: must be 1-100 letters"),
            std::string::npos);
  EXPECT_NE(set_error({"name=+training.epochs=3"}).find("--set name: must be"), std::string::npos);
}

TEST(ConfigSet, LoadConfigAppliesSetAfterTheFile) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "t", "training": {"epochs": 5}})");
  ConfigOverrides o;
  o.set = {"training.epochs=7", "augmentation.enabled=true", "augmentation.rotation_range=10"};
  o.batch_size = 16;
  const auto c = load_config(dir / "c.json", o);
  EXPECT_EQ(c.training.epochs, 7);
  EXPECT_EQ(c.training.batch_size, 16);
  EXPECT_DOUBLE_EQ(c.augmentation.rotation_range, 10);
}

}  // namespace
}  // namespace cifar_exp
