#include "cifar_exp/config.h"

#include <gtest/gtest.h>

#include "cifar_exp/errors.h"
#include "test_paths.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

using nlohmann::json;

json minimal() { return {{"name", "t"}}; }

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
  EXPECT_EQ(c.model.type, "small_cnn");
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
  EXPECT_EQ(notebook.model.type, "small_cnn");
  EXPECT_FALSE(notebook.augmentation.enabled);
  ASSERT_TRUE(notebook.reference_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*notebook.reference_accuracy, 0.7090);
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

TEST(Config, ResolvedFormParsesBack) {
  // Found by fuzz_config: an unset data.dir was written as "" which did not parse back.
  const auto config = parse_config({{"name", "t"}}, "c.json");
  const auto again = parse_config(to_json(config), "config.json");
  EXPECT_EQ(to_json(again), to_json(config));
}

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

}  // namespace
}  // namespace cifar_exp
