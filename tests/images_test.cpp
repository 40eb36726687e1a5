// Tests for images.h: PNG out and back in.
#include "cifar_exp/images.h"

#include <gtest/gtest.h>

#include "cifar_exp/errors.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

TEST(WritePng, RoundTripsEveryPixelThroughTheReader) {
  testing::TempDir dir;
  torch::manual_seed(4);
  auto rgb = torch::randint(0, 256, {7, 11, 3}, torch::kUInt8);
  write_png(dir / "p.png", rgb);
  const auto back = read_image(dir / "p.png");
  ASSERT_EQ(back.sizes(), rgb.sizes());
  EXPECT_TRUE(back.equal(rgb));
}

TEST(WritePng, RefusesAnythingButHxWx3AndNamesTheFile) {
  testing::TempDir dir;
  try {
    write_png(dir / "bad.png", torch::zeros({4, 4}, torch::kUInt8));
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "bad.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_png(dir / "no/such/folder/x.png", torch::zeros({2, 2, 3}, torch::kUInt8)),
               OutputError);
}

}  // namespace
}  // namespace cifar_exp
