// Tests for run_context.h: the setup every command starts from.
#include "cifar_exp/experiment/run_context.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ExperimentConfig config_for(const std::string& data_dir, const json& model, bool augment) {
  json doc = {{"name", "ctx"},
              {"data", {{"dir", data_dir}, {"train_limit", 40}, {"test_limit", 24}}},
              {"model", model},
              {"augmentation", {{"enabled", augment}}},
              {"training", {{"seed", 5}, {"device", "cpu"}, {"eval_batch_size", 16}}},
              {"output", {{"cache_dir", ""}}}};
  return parse_config(doc, "test", {});
}

auto logger() { return spdlog::default_logger(); }

TEST(RunContext, LoadsTheSplitsAndBuildsTheModelFromTheSeed) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 60, 30);
  RunContext a =
      make_run_context(config_for(dir / "data", {{"type", "small_cnn"}}, false), {}, logger());
  EXPECT_EQ(a.train.size(), 40);
  EXPECT_EQ(a.test.size(), 24);
  EXPECT_EQ(a.train.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(a.class_names.size(), 10u);
  EXPECT_EQ(a.data_kind, "real");
  EXPECT_EQ(a.model->kind(), "small_cnn");
  EXPECT_EQ(a.params.trainable, 122570);
  EXPECT_FALSE(a.augmenter);
  EXPECT_FALSE(a.trains_on_features());
  // Same config, same seed: the same initial weights.
  RunContext b =
      make_run_context(config_for(dir / "data", {{"type", "small_cnn"}}, false), {}, logger());
  EXPECT_TRUE(a.model->parameters()[0].equal(b.model->parameters()[0]));
  const TrainingInputs inputs = a.training_inputs(logger());
  EXPECT_EQ(inputs.model, a.model.get());
  EXPECT_TRUE(inputs.train.equal(a.train.images));
}

TEST(RunContext, AFrozenBackboneWithoutAugmentationTrainsItsHeadOnFeatures) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 60, 30);
  const json vgg = {{"type", "vgg16_transfer"}, {"weights", "random"}};
  RunContext run = make_run_context(config_for(dir / "data", vgg, false), {}, logger());
  ASSERT_TRUE(run.trains_on_features());
  const TrainingInputs inputs = run.training_inputs(logger());
  EXPECT_EQ(inputs.model, &run.model->feature_source()->feature_head());
  EXPECT_EQ(inputs.train.sizes(), (std::vector<int64_t>{40, 512}));
  EXPECT_EQ(inputs.test.sizes(), (std::vector<int64_t>{24, 512}));
  EXPECT_EQ(inputs.train.scalar_type(), torch::kFloat32);
  // No cache (output.cache_dir ""): no key to compute, no host copy kept.
  EXPECT_FALSE(run.train.host_images.defined());

  // With augmentation every epoch sees new pixels: the whole model trains on images.
  RunContext augmented = make_run_context(config_for(dir / "data", vgg, true), {}, logger());
  EXPECT_FALSE(augmented.trains_on_features());
  EXPECT_TRUE(augmented.augmenter);
  const TrainingInputs on_images = augmented.training_inputs(logger());
  EXPECT_EQ(on_images.model, augmented.model.get());
  EXPECT_TRUE(on_images.train.equal(augmented.train.images));
  // The test split's features never change: computed once, evaluated by the head.
  EXPECT_EQ(on_images.evaluation_model, &augmented.model->feature_source()->feature_head());
  EXPECT_EQ(on_images.test.sizes(), (std::vector<int64_t>{24, 512}));
  torch::NoGradGuard no_grad;
  augmented.model->eval();
  auto direct = augmented.model->forward(augmented.test.images.to(torch::kFloat32).div(255));
  EXPECT_TRUE(
      torch::allclose(on_images.evaluation_model->forward(on_images.test), direct, 1e-5, 1e-6));
}

TEST(RunContext, KeepsTheHostImagesOnlyWhereTheFeatureCacheKeysThem) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 60, 30);
  const json vgg = {{"type", "vgg16_transfer"}, {"weights", "random"}};
  ExperimentConfig cached = config_for(dir / "data", vgg, false);
  cached.output.cache_dir = dir / "cache";
  RunContext run = make_run_context(cached, {}, logger());
  for (const SplitData* split : {&run.train, &run.test}) {
    ASSERT_TRUE(split->host_images.defined());
    EXPECT_TRUE(split->host_images.device().is_cpu());
    EXPECT_TRUE(split->host_images.equal(split->images.cpu()));
  }
  run.training_inputs(logger());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "cache"), fs::directory_iterator()), 4);
  // A model without a feature source keys nothing.
  ExperimentConfig small = config_for(dir / "data", {{"type", "small_cnn"}}, false);
  small.output.cache_dir = dir / "cache";
  EXPECT_FALSE(make_run_context(small, {}, logger()).train.host_images.defined());
}

TEST(RunContext, MissingFilesAreErrorsUnlessBenchAsksForStandIns) {
  testing::TempDir dir;
  const json vgg = {{"type", "vgg16_transfer"}, {"weights", dir / "missing.h5"}};
  EXPECT_THROW(make_run_context(config_for(dir / "nodata", vgg, false), {}, logger()), DataError);
  RunContextOptions options;
  options.stand_ins_for_missing_files = true;
  options.stand_in_train_rows = 128;
  RunContext run = make_run_context(config_for(dir / "nodata", vgg, false), options, logger());
  EXPECT_EQ(run.data_kind, "generated");
  EXPECT_EQ(run.train.size(), 128);
  EXPECT_EQ(run.test.size(), 24);
  EXPECT_NE(run.weights_note.find("not found"), std::string::npos) << run.weights_note;
}

TEST(RunContext, OneSplitAndNoModelForPreviews) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 60, 30);
  RunContextOptions options;
  options.test_split = false;
  options.model = false;
  options.use_device = false;
  options.augmenter = true;
  RunContext run =
      make_run_context(config_for(dir / "data", {{"type", "small_cnn"}}, false), options, logger());
  EXPECT_EQ(run.train.size(), 40);
  EXPECT_EQ(run.test.size(), 0);
  EXPECT_FALSE(run.model);
  EXPECT_TRUE(run.augmenter);
}

}  // namespace
}  // namespace cifar_exp
