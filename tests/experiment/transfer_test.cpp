// VGG16 transfer model, frozen-backbone training and the feature cache.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cifar_exp/models/feature_cache.h"
#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/training/fit.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

ModelConfig random_vgg(int64_t trainable_blocks = 0) {
  ModelConfig c;
  c.type = ModelType::kVgg16Transfer;
  c.weights = "random";
  c.trainable_blocks = trainable_blocks;
  return c;
}

std::map<std::string, torch::Tensor> snapshot(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

TEST(Transfer, ParameterCountsAndShapes) {
  auto model = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg()));
  ASSERT_TRUE(model);
  const auto counts = count_parameters(*model);
  EXPECT_EQ(counts.frozen, 14714688);
  EXPECT_EQ(counts.trainable, 133898);
  EXPECT_EQ(model->feature_size(), 512);
  auto logits = model->forward(torch::rand({2, 3, 32, 32}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10}));

  auto big = random_vgg();
  big.input_size = 64;
  auto resized = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(big));
  EXPECT_EQ(resized->feature_size(), 2048);
  EXPECT_EQ(resized->features(torch::rand({1, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{1, 2048}));
  EXPECT_EQ(count_parameters(*resized).trainable, 2048 * 256 + 256 + 2570);

  auto fine_tune = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg(1)));
  // Block 5 is three 512 -> 512 convolutions.
  EXPECT_EQ(count_parameters(*fine_tune).trainable, 133898 + 3 * (512 * 512 * 9 + 512));
}

TEST(Transfer, Preprocessing) {
  auto image = torch::zeros({1, 3, 32, 32});
  image[0][0] = 1.0;  // pure red
  ModelConfig c = random_vgg();
  Vgg16TransferImpl caffe(c, Preprocess::kCaffe);
  // One pixel's three channels.
  auto x = caffe.preprocess(image).select(3, 5).select(2, 7).flatten();
  // BGR order, 0-255, minus the BGR means: blue 0, green 0, red 255.
  EXPECT_NEAR(x[0].item<float>(), -103.939f, 1e-3);
  EXPECT_NEAR(x[1].item<float>(), -116.779f, 1e-3);
  EXPECT_NEAR(x[2].item<float>(), 255.0f - 123.68f, 1e-3);
  Vgg16TransferImpl imagenet(c, Preprocess::kImagenet);
  auto y = imagenet.preprocess(image).select(3, 5).select(2, 7).flatten();
  EXPECT_NEAR(y[0].item<float>(), (1 - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(y[2].item<float>(), (0 - 0.406f) / 0.225f, 1e-5);
  Vgg16TransferImpl unit(c, Preprocess::kUnit);
  EXPECT_TRUE(torch::equal(unit.preprocess(image), image));
  // input_size 64: resized bilinearly; a constant image stays constant.
  ModelConfig big = random_vgg();
  big.input_size = 64;
  Vgg16TransferImpl resized(big, Preprocess::kUnit);
  auto r = resized.preprocess(image);
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  EXPECT_NEAR(r[0][0].min().item<float>(), 1.0f, 1e-6);
  EXPECT_EQ(resolve_preprocess(c), Preprocess::kCaffe);
  c.weights_format = WeightsFormat::kTorchvision;
  EXPECT_EQ(resolve_preprocess(c), Preprocess::kImagenet);
  c.preprocess = Preprocess::kUnit;
  EXPECT_EQ(resolve_preprocess(c), Preprocess::kUnit);
}

TEST(Transfer, BackboneLoadsWeightsIntoTheNamedLayers) {
  Vgg16Weights weights;
  torch::manual_seed(1);
  for (const auto& conv : vgg16_convs()) {
    weights[conv.name + ".weight"] = torch::randn({conv.out, conv.in, 3, 3});
    weights[conv.name + ".bias"] = torch::randn({conv.out});
  }
  Vgg16Backbone backbone;
  backbone->load_weights(weights);
  for (size_t i = 0; i < vgg16_convs().size(); ++i) {
    const auto& name = vgg16_convs()[i].name;
    EXPECT_TRUE(torch::equal(backbone->convs[i]->weight, weights[name + ".weight"])) << name;
    EXPECT_TRUE(
        torch::equal(backbone->named_parameters()[name + ".bias"], weights[name + ".bias"]));
  }
  // Five pools: 32 -> 1.
  EXPECT_EQ(backbone->forward(torch::rand({1, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{1, 512, 1, 1}));
}

// Under bf16 autocast without autograd the frozen backbone convolves with bf16 weights it cast
// once: the same values as autocast casting them every batch (the path with autograd on), and
// cast afresh when the weights change.
TEST(Transfer, FrozenBackboneUnderBf16AutocastCastsWeightsOnce) {
  torch::manual_seed(3);
  Vgg16Backbone backbone;
  backbone->freeze(0);
  const auto x = torch::rand({2, 3, 32, 32});
  torch::Tensor fp32;
  {
    torch::NoGradGuard no_grad;
    fp32 = backbone->forward(x);
  }
  auto both_paths = [&] {
    AutocastScope autocast(torch::kCPU, Precision::kBf16);
    torch::Tensor cast_once, cast_per_batch = backbone->forward(x);  // autograd on
    {
      torch::NoGradGuard no_grad;
      cast_once = backbone->forward(x);
    }
    EXPECT_EQ(cast_once.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(cast_once, cast_per_batch));
    return cast_once.to(torch::kFloat);
  };
  const auto bf16 = both_paths();
  EXPECT_EQ(bf16.sizes(), fp32.sizes());
  // bf16 keeps 8 bits of mantissa: close to fp32, not equal to it.
  const double relative = (bf16 - fp32).norm().item<double>() / fp32.norm().item<double>();
  EXPECT_GT(relative, 0.0);
  EXPECT_LT(relative, 0.05);
  {
    torch::NoGradGuard no_grad;
    backbone->convs.back()->weight.mul_(-1.0);  // in place, as load_weights and restores do
  }
  const auto changed = both_paths();
  EXPECT_FALSE(torch::equal(changed, bf16));
}

FitOptions one_epoch() {
  FitOptions o;
  o.training.epochs = 1;
  o.training.batch_size = 16;
  o.training.eval_batch_size = 32;
  return o;
}

TEST(Transfer, FrozenBackboneNeverChangesHeadDoes) {
  for (int64_t blocks : {0, 1}) {
    torch::manual_seed(2);
    auto model = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg(blocks)));
    auto data = testing::make_learnable_split(48, 3);
    const auto before = snapshot(*model);
    fit(*model, data.images, data.labels, data.images, data.labels, one_epoch());
    for (const auto& p : model->named_parameters()) {
      const bool in_head = p.key().rfind("head.", 0) == 0;
      const bool in_block5 = p.key().find("block5_") != std::string::npos;
      const bool should_change = in_head || (blocks == 1 && in_block5);
      EXPECT_EQ(!torch::equal(p.value(), before.at(p.key())), should_change)
          << "trainable_blocks " << blocks << ": " << p.key();
    }
  }
}

TEST(Transfer, CachedAndUncachedPathsTrainTheSameHead) {
  auto data = testing::make_learnable_split(64, 4);
  auto test = testing::make_learnable_split(32, 5);

  torch::manual_seed(7);
  auto direct = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg()));
  const auto direct_history =
      fit(*direct, data.images, data.labels, test.images, test.labels, one_epoch());

  torch::manual_seed(7);
  auto cached = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg()));
  auto train_features = compute_features(*cached, data.images, 20);
  auto test_features = compute_features(*cached, test.images, 20);
  EXPECT_EQ(train_features.sizes(), (std::vector<int64_t>{64, 512}));
  const auto cached_history =
      fit(*cached->head, train_features, data.labels, test_features, test.labels, one_epoch());

  // The two paths compute the backbone's features in other batches (16 shuffled images, 20 in
  // order), so a feature can be exactly 0 after a ReLU in one and a rounding-level positive in
  // the other; Adam normalises the gradient, and moves such a weight by up to
  // lr * |g| / (|g| + epsilon): up to a few 1e-5 here. So: nearly every value equal to 1e-6, and
  // none further apart than a tenth of one step (lr 1e-3).
  for (const auto& p : direct->head->named_parameters()) {
    const auto difference = (p.value() - cached->head->named_parameters()[p.key()]).abs();
    EXPECT_LE(difference.gt(1e-6).sum().item<int64_t>(), difference.numel() / 1000) << p.key();
    EXPECT_LT(difference.max().item<float>(), 1e-4) << p.key();
  }
  EXPECT_NEAR(direct_history.last_validation.loss, cached_history.last_validation.loss, 1e-4);
}

// What the feature-cache tests share: a cache folder, the logger, 8 images and a random VGG16
// (seed 1).
struct CacheSetup {
  testing::TempDir dir;
  std::shared_ptr<spdlog::logger> logger = spdlog::default_logger();
  torch::Tensor images = testing::make_learnable_split(8, 6).images;
  std::shared_ptr<Vgg16TransferImpl> model = [] {
    torch::manual_seed(1);
    return std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg()));
  }();
};

TEST(Transfer, FeatureCacheIsReusedAndKeyedByInputs) {
  CacheSetup setup;
  auto& [dir, logger, images, model] = setup;
  bool hit = true;
  auto first = cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  EXPECT_FALSE(hit);
  // The entry and its checksum.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);
  auto second = cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  EXPECT_TRUE(hit);
  EXPECT_TRUE(torch::equal(first, second));

  // Other images, other weights or other preprocessing: other keys.
  const auto key = feature_cache_key(*model, images);
  EXPECT_NE(feature_cache_key(*model, images.narrow(0, 0, 7)), key);
  torch::manual_seed(2);
  auto other = std::dynamic_pointer_cast<Vgg16TransferImpl>(build_model(random_vgg()));
  EXPECT_NE(feature_cache_key(*other, images), key);
  Vgg16TransferImpl unit(random_vgg(), Preprocess::kUnit);
  unit.backbone->load_weights([&] {
    Vgg16Weights w;
    // (setup.model: C++17 lambdas cannot capture structured bindings)
    for (const auto& p : setup.model->backbone->named_parameters()) w[p.key()] = p.value();
    return w;
  }());
  EXPECT_NE(feature_cache_key(unit, images), key);
}

TEST(Transfer, FeatureCacheKeyHashesTheHostCopyWhenGiven) {
  CacheSetup setup;
  auto& [dir, logger, images, model] = setup;
  // The same bytes on the host give the same key (on a GPU this spares the copy back).
  const auto key = feature_cache_key(*model, images);
  EXPECT_EQ(feature_cache_key(*model, images, images.clone()), key);
  bool hit = false;
  cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  cached_features(*model, images, dir.path(), 4, logger, "train", &hit, images.clone());
  EXPECT_TRUE(hit);
  // A "host copy" that cannot be the images' is refused.
  EXPECT_THROW(feature_cache_key(*model, images, images.narrow(0, 0, 7)), c10::Error);
  EXPECT_THROW(feature_cache_key(*model, images, images.to(torch::kFloat32)), c10::Error);
}

// training.precision bf16 computes the cached features in bf16 too (RunContext wraps them in
// its AutocastScope): another key, float32 values close to the fp32 ones.
TEST(Transfer, Bf16FeaturesHaveKeysOfTheirOwn) {
  CacheSetup setup;
  auto& [dir, logger, images, model] = setup;
  const auto fp32_key = feature_cache_key(*model, images);
  const auto fp32 = cached_features(*model, images, dir.path(), 4, logger, "train");
  AutocastScope autocast(torch::kCPU, Precision::kBf16);
  EXPECT_NE(feature_cache_key(*model, images), fp32_key);
  bool hit = true;
  const auto bf16 = cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  EXPECT_FALSE(hit);  // not the fp32 entry
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat32);
  EXPECT_EQ(bf16.sizes(), fp32.sizes());
  EXPECT_FALSE(torch::equal(bf16, fp32));
  EXPECT_LT((bf16 - fp32).norm().item<double>(), 0.05 * fp32.norm().item<double>());
  cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  EXPECT_TRUE(hit);
}

TEST(Transfer, CorruptedOrTruncatedCacheEntriesAreRecomputedNeverUsed) {
  CacheSetup setup;
  auto& [dir, logger, images, model] = setup;
  auto expected = cached_features(*model, images, dir.path(), 4, logger, "train");
  const std::string entry =
      (fs::path(dir.path()) / ("vgg16-" + feature_cache_key(*model, images) + ".pt")).string();
  const std::string intact = testing::read_text(entry);
  // Flips in the header, the middle (tensor data) and the end; truncations; no checksum file.
  std::vector<std::string> damaged;
  for (size_t offset : {size_t(30), intact.size() / 2, intact.size() - 5}) {
    std::string bad = intact;
    bad[offset] ^= 0x40;
    damaged.push_back(bad);
  }
  damaged.push_back(intact.substr(0, intact.size() / 2));
  damaged.push_back("");
  for (size_t i = 0; i < damaged.size(); ++i) {
    testing::write_text(entry, damaged[i]);
    bool hit = true;
    auto features = cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
    EXPECT_FALSE(hit) << "damage " << i;
    EXPECT_TRUE(torch::equal(features, expected)) << "damage " << i;
    EXPECT_EQ(testing::read_text(entry), intact) << "damage " << i << ": entry not rewritten";
  }
  fs::remove(entry + ".crc32");
  bool hit = true;
  cached_features(*model, images, dir.path(), 4, logger, "train", &hit);
  EXPECT_FALSE(hit);  // an entry without a checksum is not trusted either
}

TEST(Transfer, NpyFileLayout) {
  testing::TempDir dir;
  auto m = torch::arange(6, torch::kFloat32).view({2, 3});
  write_npy(dir / "m.npy", m);
  const std::string bytes = testing::read_text(dir / "m.npy");
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos);
  ASSERT_EQ(bytes.size(), 10 + header_len + 24);
  float values[6];
  std::memcpy(values, bytes.data() + 10 + header_len, 24);
  EXPECT_EQ(values[4], 4.0f);
}

TEST(Transfer, CliRunsCachedTransferAndReusesTheCache) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 60, 30);
  testing::write_text(dir / "tl.json", R"({
    "name": "tl", "model": {"type": "vgg16_transfer", "weights": "random"},
    "training": {"epochs": 2, "batch_size": 16}
  })");
  std::vector<std::string> args = {"--config",     dir / "tl.json", "--data-dir", dir / "data",
                                   "--output-dir", dir / "runs",    "--threads",  "2"};
  // The cache folder is <output.dir>/.cache (output.cache_dir "auto"); run elsewhere to show it.
  const auto cwd = fs::current_path();
  fs::current_path(dir.path());
  auto first = testing::run_cli(args);
  auto second = testing::run_cli(args);
  fs::current_path(cwd);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(first.out.find("train features: computing"), std::string::npos) << first.out;
  EXPECT_NE(second.out.find("train features: read from cache"), std::string::npos) << second.out;
  EXPECT_NE(first.out.find("NOT transfer learning"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(dir / "runs/.cache"));
  EXPECT_FALSE(fs::exists(dir / "cache"));

  std::vector<std::string> runs;
  for (const auto& e : fs::directory_iterator(dir / "runs")) {
    if (e.path().filename().string()[0] != '.') runs.push_back(e.path().string());  // not .locks
  }
  ASSERT_EQ(runs.size(), 2u);
  std::sort(runs.begin(), runs.end());
  const auto a = nlohmann::json::parse(testing::read_text(runs[0] + "/summary.json"));
  const auto b = nlohmann::json::parse(testing::read_text(runs[1] + "/summary.json"));
  EXPECT_EQ(a["transfer"], "random");
  EXPECT_EQ(a["model"], "vgg16_transfer");
  EXPECT_EQ(a["frozen_params"], 14714688);
  EXPECT_EQ(a["trainable_params"], 133898);
  // Same seed, same features: the same result with or without the cache.
  EXPECT_DOUBLE_EQ(a["test_loss"].get<double>(), b["test_loss"].get<double>());

  auto extract =
      testing::run_cli({"extract-features", "--config", dir / "tl.json", "--data-dir", dir / "data",
                        "--split", "test", "--limit", "5", "--out", dir / "f.npy"});
  ASSERT_EQ(extract.exit_code, 0) << extract.err;
  EXPECT_EQ(fs::file_size(dir / "f.npy"), 128u + 5 * 512 * 4);

  auto missing = testing::run_cli(
      {"--config", dir / "tl.json", "--data-dir", dir / "data", "--output-dir", dir / "runs2"});
  EXPECT_EQ(missing.exit_code, 0);  // random weights need no file
  testing::write_text(dir / "pre.json", R"({
    "name": "pre", "model": {"type": "vgg16_transfer", "weights": "nowhere/w.h5"}})");
  auto no_file = testing::run_cli(
      {"--config", dir / "pre.json", "--data-dir", dir / "data", "--output-dir", dir / "runs3"});
  EXPECT_EQ(no_file.exit_code, 4) << no_file.err;
  EXPECT_NE(no_file.err.find("nowhere/w.h5"), std::string::npos) << no_file.err;
  EXPECT_NE(no_file.err.find("scripts/download_vgg16_weights.sh"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "runs3") && !fs::is_empty(dir / "runs3"));
}

}  // namespace
}  // namespace cifar_exp
