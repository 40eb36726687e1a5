// Tests for augmentation.h: Keras' transforms against reference data, per-batch draws.
#include "cifar_exp/data/augmentation.h"

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "cifar_exp/io/errors.h"
#include "test_paths.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// A 1 x C x H x W image with distinct values: 100*channel + 10*row + col.
torch::Tensor pattern(int64_t channels, int64_t height, int64_t width) {
  auto ch = torch::arange(channels, torch::kFloat32).view({channels, 1, 1}) * 100;
  auto r = torch::arange(height, torch::kFloat32).view({1, height, 1}) * 10;
  auto c = torch::arange(width, torch::kFloat32).view({1, 1, width});
  return (ch + r + c).unsqueeze(0);
}

AffineParams shift_columns(double tx) {
  auto p = AffineParams::identity(1);
  p.tx.fill_(tx);
  return p;
}

TEST(Augmentation, IdentityLeavesImagesUnchanged) {
  auto x = torch::rand({4, 3, 32, 32});
  for (const auto& [mode, name] : ChoiceNames<FillMode>::kNames) {
    EXPECT_TRUE(torch::equal(apply_affine(x, AffineParams::identity(4), mode, 0.5), x)) << name;
  }
}

TEST(Augmentation, HorizontalFlipReversesColumnsExactly) {
  auto x = torch::rand({3, 3, 8, 8});
  auto p = AffineParams::identity(3);
  p.flip_horizontal = torch::tensor({true, false, true});
  auto y = apply_affine(x, p, FillMode::kNearest, 0);
  EXPECT_TRUE(torch::equal(y[0], x[0].flip({2})));
  EXPECT_TRUE(torch::equal(y[1], x[1]));
  EXPECT_TRUE(torch::equal(y[2], x[2].flip({2})));
  p.flip_horizontal = torch::tensor({false, false, false});
  p.flip_vertical = torch::tensor({true, false, false});
  EXPECT_TRUE(torch::equal(apply_affine(x, p, FillMode::kNearest, 0)[0], x[0].flip({1})));
}

TEST(Augmentation, IntegerShiftMovesPixelsAndFillsByMode) {
  // One row of 5 pixels a b c d e = 0 1 2 3 4; tx = 2 moves content left by 2 columns, so
  // output column c samples input column c + 2; columns 5 and 6 are outside.
  // nearest and reflect resample through grid_sample, exact up to float32 rounding of the
  // normalised grid; constant and wrap gather the neighbours and are exact.
  auto x = pattern(1, 2, 5);
  auto near = [](const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::abs(a[i] - b[i]) > 1e-5f) return false;
    return true;
  };
  auto row = [&](FillMode mode) {
    auto y = apply_affine(x, shift_columns(2), mode, 9.0);
    return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + 5);
  };
  EXPECT_TRUE(near(row(FillMode::kNearest), {2, 3, 4, 4, 4}));
  EXPECT_EQ(row(FillMode::kConstant), (std::vector<float>{2, 3, 4, 9, 9}));
  EXPECT_TRUE(near(row(FillMode::kReflect), {2, 3, 4, 4, 3}));  // e d | reflected
  EXPECT_EQ(row(FillMode::kWrap),
            (std::vector<float>{2, 3, 4, 1, 2}));  // period n-1: 5 -> 1, 6 -> 2

  // Shift the other way: tx = -2 samples columns -2 and -1 for the first two outputs.
  auto y = [&](FillMode mode) {
    auto t = apply_affine(x, shift_columns(-2), mode, 9.0);
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + 5);
  };
  EXPECT_TRUE(near(y(FillMode::kNearest), {0, 0, 0, 1, 2}));
  EXPECT_EQ(y(FillMode::kConstant), (std::vector<float>{9, 9, 0, 1, 2}));
  EXPECT_TRUE(near(y(FillMode::kReflect), {1, 0, 0, 1, 2}));
  EXPECT_EQ(y(FillMode::kWrap), (std::vector<float>{2, 3, 0, 1, 2}));  // -2 -> 2, -1 -> 3
}

TEST(Augmentation, RowShiftMovesContentUp) {
  auto x = pattern(1, 4, 2);
  auto p = AffineParams::identity(1);
  p.ty.fill_(1);
  auto y = apply_affine(x, p, FillMode::kConstant, -1);
  // Output row r samples input row r + 1; the last row is outside.
  EXPECT_TRUE(torch::equal(y[0][0].narrow(0, 0, 3), x[0][0].narrow(0, 1, 3)));
  EXPECT_TRUE(torch::equal(y[0][0][3], torch::full({2}, -1.0f)));
}

TEST(Augmentation, Rotation90OfASquarePattern) {
  auto x = torch::arange(9, torch::kFloat32).view({1, 1, 3, 3});
  auto p = AffineParams::identity(1);
  p.theta.fill_(90);
  auto y = apply_affine(x, p, FillMode::kNearest, 0);
  // Keras rotates counter-clockwise: [[0,1,2],[3,4,5],[6,7,8]] -> [[2,5,8],[1,4,7],[0,3,6]].
  auto expected = torch::tensor({2, 5, 8, 1, 4, 7, 0, 3, 6}, torch::kFloat32).view({1, 1, 3, 3});
  EXPECT_TRUE(torch::allclose(y, expected, 0, 1e-5)) << y;
}

// Keras' own apply_affine_transform outputs for a 7 x 9 x 3 image (tests/fixtures/).
TEST(Augmentation, MatchesKerasApplyAffineTransform) {
  const auto fixture = nlohmann::json::parse(
      testing::read_text(std::string(CIFAR_EXP_SOURCE_DIR) + "/tests/fixtures/keras_affine.json"));
  const auto shape = fixture["image"]["shape"].get<std::vector<int64_t>>();  // H, W, C
  const auto values = fixture["image"]["values"].get<std::vector<float>>();
  auto image = torch::tensor(values)
                   .view({1, shape[0], shape[1], shape[2]})
                   .permute({0, 3, 1, 2})
                   .contiguous();
  ASSERT_GE(fixture["cases"].size(), 20u);
  for (const auto& c : fixture["cases"]) {
    auto p = AffineParams::identity(1);
    p.theta.fill_(c["theta"].get<double>());
    p.tx.fill_(c["tx"].get<double>());
    p.ty.fill_(c["ty"].get<double>());
    p.shear.fill_(c["shear"].get<double>());
    p.zx.fill_(c["zx"].get<double>());
    p.zy.fill_(c["zy"].get<double>());
    p.flip_horizontal.fill_(c.value("flip_horizontal", false));
    p.flip_vertical.fill_(c.value("flip_vertical", false));
    auto ours =
        apply_affine(image, p, *choice_from_name<FillMode>(c["fill_mode"].get<std::string>()),
                     c["cval"].get<double>())
            .permute({0, 2, 3, 1})
            .reshape({-1});
    auto keras = torch::tensor(c["output"].get<std::vector<float>>());
    ASSERT_EQ(ours.numel(), keras.numel());
    // Pixels whose coordinate lies exactly on a constant/wrap seam depend on the last bit of
    // rounding; the fixture lists them.
    auto check = torch::ones({keras.numel()}, torch::kBool);
    for (const auto& i : c["fragile_indices"]) check[i.get<int64_t>()] = false;
    const double diff = (ours - keras).abs().masked_select(check).max().item<double>();
    EXPECT_LT(diff, 1e-4) << c["name"];
  }
}

// nearest and reflect on float32 CPU images take our per-image sampling; float64 images take the
// tensor path (grid_sample), which CUDA runs too: the two agree to float rounding, with every
// transform and both flips, on a non-square image.
TEST(Augmentation, OurCpuSamplingMatchesTheTensorPath) {
  torch::manual_seed(4);
  const int64_t n = 16;
  const auto images = torch::rand({n, 3, 12, 10});
  auto p = AffineParams::identity(n);
  p.theta = torch::empty({n}, torch::kFloat64).uniform_(-200, 200);
  p.tx = torch::empty({n}, torch::kFloat64).uniform_(-15, 15);  // beyond the borders too
  p.ty = torch::empty({n}, torch::kFloat64).uniform_(-15, 15);
  p.shear = torch::empty({n}, torch::kFloat64).uniform_(-30, 30);
  p.zx = torch::empty({n}, torch::kFloat64).uniform_(0.5, 1.6);
  p.zy = torch::empty({n}, torch::kFloat64).uniform_(0.5, 1.6);
  p.flip_horizontal = torch::rand({n}).lt(0.5);
  p.flip_vertical = torch::rand({n}).lt(0.5);
  for (const auto mode : {FillMode::kNearest, FillMode::kReflect}) {
    const auto ours = apply_affine(images, p, mode, 0.0);
    const auto tensor_path = apply_affine(images.to(torch::kFloat64), p, mode, 0.0);
    EXPECT_EQ(ours.scalar_type(), torch::kFloat);
    EXPECT_LT((ours.to(torch::kFloat64) - tensor_path).abs().max().item<double>(), 1e-5)
        << to_string(mode);
    EXPECT_FALSE(torch::equal(ours, images));
  }
}

AugmentationConfig notebook_augmentation() {
  AugmentationConfig c;
  c.enabled = true;
  c.rotation_range = 20;
  c.width_shift_range = 0.2;
  c.height_shift_range = 0.2;
  c.horizontal_flip = true;
  return c;
}

TEST(Augmentation, DrawsStayInRangeAndCoverIt) {
  Augmenter augmenter(notebook_augmentation(), 1);
  const auto p = augmenter.draw(20000, 32, 32);
  EXPECT_LE(p.theta.abs().max().item<double>(), 20.0);
  EXPECT_GT(p.theta.max().item<double>(), 19.5);
  EXPECT_LT(p.theta.min().item<double>(), -19.5);
  EXPECT_LE(p.tx.abs().max().item<double>(), 6.4);
  EXPECT_GT(p.tx.abs().max().item<double>(), 6.2);
  EXPECT_LE(p.ty.abs().max().item<double>(), 6.4);
  EXPECT_GT(p.ty.abs().max().item<double>(), 6.2);
  EXPECT_NEAR(p.theta.mean().item<double>(), 0.0, 0.5);
  EXPECT_NEAR(p.flip_horizontal.to(torch::kFloat64).mean().item<double>(), 0.5, 0.02);
  EXPECT_FALSE(p.flip_vertical.any().item<bool>());
  EXPECT_TRUE(torch::equal(p.zx, torch::ones_like(p.zx)));
  EXPECT_TRUE(torch::equal(p.shear, torch::zeros_like(p.shear)));

  AugmentationConfig zoom;
  zoom.zoom_lower = 0.8;
  zoom.zoom_upper = 1.3;
  zoom.width_shift_range = 3;  // pixels when >= 1
  Augmenter z(zoom, 2);
  const auto q = z.draw(5000, 32, 32);
  EXPECT_GE(q.zx.min().item<double>(), 0.8);
  EXPECT_LE(q.zx.max().item<double>(), 1.3);
  EXPECT_LT(q.zx.min().item<double>(), 0.81);
  EXPECT_FALSE(torch::equal(q.zx, q.zy));  // independent
  EXPECT_LE(q.tx.abs().max().item<double>(), 3.0);
  EXPECT_GT(q.tx.abs().max().item<double>(), 2.9);
}

TEST(Augmentation, SameSeedSameBatchDifferentSeedDifferent) {
  auto batch = torch::rand({16, 3, 32, 32});
  auto config = notebook_augmentation();
  config.random_crop = RandomCropConfig{4, 32};
  config.cutout = 8;
  Augmenter a(config, 7), b(config, 7), c(config, 8);
  auto ya = a(batch), yb = b(batch), yc = c(batch);
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_FALSE(torch::equal(ya, yc));
  EXPECT_FALSE(torch::equal(ya, batch));
  EXPECT_EQ(ya.sizes(), batch.sizes());
  // The next batch from the same stream differs from the first.
  EXPECT_FALSE(torch::equal(a(batch), ya));
}

TEST(Augmentation, RandomCropIsAShiftWithZeroPadding) {
  AugmentationConfig config;
  config.random_crop = RandomCropConfig{4, 32};
  Augmenter augmenter(config, 3);
  auto batch = torch::rand({64, 3, 32, 32}) + 1.0f;  // no zeros in the input
  auto y = augmenter(batch);
  std::set<int64_t> zero_rows_seen;
  for (int64_t i = 0; i < 64; ++i) {
    // Find the shift by locating the non-zero block, then compare with the input.
    auto nonzero_rows = y[i][0].ne(0).any(1).nonzero().view(-1);
    auto nonzero_cols = y[i][0].ne(0).any(0).nonzero().view(-1);
    const int64_t r0 = nonzero_rows[0].item<int64_t>(), rn = nonzero_rows.numel();
    const int64_t c0 = nonzero_cols[0].item<int64_t>(), cn = nonzero_cols.numel();
    EXPECT_GE(rn, 28);
    EXPECT_GE(cn, 28);
    EXPECT_EQ(y[i].ne(0).sum().item<int64_t>(), 3 * rn * cn);
    const int64_t src_r = r0 == 0 ? 32 - rn : 0, src_c = c0 == 0 ? 32 - cn : 0;
    EXPECT_TRUE(torch::equal(y[i].narrow(1, r0, rn).narrow(2, c0, cn),
                             batch[i].narrow(1, src_r, rn).narrow(2, src_c, cn)));
    zero_rows_seen.insert(32 - rn);
  }
  EXPECT_GE(zero_rows_seen.size(), 4u);  // several different offsets drawn
}

TEST(Augmentation, CutoutZeroesAtMostASquare) {
  AugmentationConfig config;
  config.cutout = 8;
  Augmenter augmenter(config, 4);
  auto batch = torch::rand({32, 3, 32, 32}) + 1.0f;
  auto y = augmenter(batch);
  for (int64_t i = 0; i < 32; ++i) {
    auto zero = y[i][0].eq(0);
    const int64_t count = zero.sum().item<int64_t>();
    EXPECT_GT(count, 0);
    EXPECT_LE(count, 64);
    // Same mask in every channel, and everything else untouched.
    EXPECT_TRUE(torch::equal(y[i].eq(0), zero.unsqueeze(0).expand({3, 32, 32})));
    EXPECT_TRUE(torch::equal(y[i].masked_select(y[i].ne(0)), batch[i].masked_select(y[i].ne(0))));
  }
}

TEST(Augmentation, InvalidValuesAreConfigErrorsNamingTheKey) {
  auto error = [](const nlohmann::json& aug) {
    try {
      parse_config({{"name", "t"}, {"augmentation", aug}}, "c.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error({{"width_shift_range", -0.1}}).find("augmentation.width_shift_range"),
            std::string::npos);
  EXPECT_NE(error({{"zoom_range", -0.5}}).find("augmentation.zoom_range"), std::string::npos);
  EXPECT_NE(error({{"zoom_range", {1.2, 0.9}}}).find("augmentation.zoom_range"), std::string::npos);
  EXPECT_NE(error({{"fill_mode", "edge"}}).find("augmentation.fill_mode"), std::string::npos);
  EXPECT_NE(error({{"random_crop", {{"padding", 2}, {"size", 37}}}})
                .find("augmentation.random_crop.size: crop of 37 is larger"),
            std::string::npos);
  EXPECT_NE(error({{"cutout", -1}}).find("augmentation.cutout"), std::string::npos);
  EXPECT_NE(error({{"horizontal_flip", "yes"}}).find("augmentation.horizontal_flip"),
            std::string::npos);
}

}  // namespace
}  // namespace cifar_exp
