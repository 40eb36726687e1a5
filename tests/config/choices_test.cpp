// Tests for choices.h: every choice's names, and the config reading and writing them.
#include "cifar_exp/config/choices.h"

#include <gtest/gtest.h>

#include <set>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"

namespace cifar_exp {
namespace {

// Each name reads back as its value, no two values share a name, and unknown names are none.
template <class E>
void expect_round_trip(const std::vector<std::string>& expected) {
  EXPECT_EQ(choice_names<E>(), expected);
  std::set<std::string> seen;
  for (const auto& [value, name] : ChoiceNames<E>::kNames) {
    EXPECT_EQ(to_string(value), name);
    EXPECT_EQ(choice_from_name<E>(name), value) << name;
    EXPECT_TRUE(seen.insert(name).second) << name << " twice";
  }
  EXPECT_FALSE(choice_from_name<E>("").has_value());
  EXPECT_FALSE(choice_from_name<E>("no_such_choice").has_value());
}

TEST(Choices, NamesRoundTrip) {
  expect_round_trip<ModelType>({"small_cnn", "vgg16_transfer"});
  expect_round_trip<Kernels>({"auto", "own", "fused", "generic"});
  expect_round_trip<WeightsFormat>({"keras_h5", "torchvision"});
  expect_round_trip<Preprocess>({"auto", "caffe", "imagenet", "unit"});
  expect_round_trip<Convolution>(
      {"auto", "direct", "winograd", "winograd_avx2", "winograd_avx512"});
  expect_round_trip<FillMode>({"nearest", "constant", "reflect", "wrap"});
  expect_round_trip<Validation>({"test", "split", "none"});
  expect_round_trip<Precision>({"fp32", "bf16"});
  expect_round_trip<Optimizer>({"adam", "adamw", "sgd", "rmsprop"});
}

// The config takes its choices' names from the same tables: each name parses to its value and
// is written back as it was; another name is refused with the list.
TEST(Choices, ConfigReadsAndWritesTheNames) {
  for (const auto& [value, name] : ChoiceNames<Convolution>::kNames) {
    const nlohmann::json doc = {
        {"name", "c"},
        {"model", {{"type", "vgg16_transfer"}, {"weights", "random"}, {"convolution", name}}}};
    const auto config = parse_config(doc, "c.json");
    EXPECT_EQ(config.model.convolution, value);
    EXPECT_EQ(to_json(config)["model"]["convolution"], name);
  }
  const nlohmann::json bad = {{"name", "c"}, {"model", {{"kernels", "fast"}}}};
  try {
    parse_config(bad, "c.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "model.kernels: must be one of auto, own, fused, generic, got \"fast\""),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cifar_exp
