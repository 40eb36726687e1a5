// Tests for images.h: PNG out and back in; JPEG and PNG files that are damaged, huge, or in
// colour spaces other than RGB.
#include "cifar_exp/io/images.h"

#include <cstdio>
#include <vector>

#include <gtest/gtest.h>
#include <jpeglib.h>

#include "cifar_exp/io/errors.h"
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

// A JPEG of `pixels` (H x W x C uint8, C = 3 RGB or 4 CMYK) through libjpeg, in memory.
std::string encode_jpeg(const torch::Tensor& pixels, J_COLOR_SPACE space = JCS_RGB,
                        bool progressive = false, J_COLOR_SPACE stored = JCS_UNKNOWN) {
  auto data = pixels.contiguous();
  jpeg_compress_struct info{};
  jpeg_error_mgr errors{};
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_height = JDIMENSION(data.size(0));
  info.image_width = JDIMENSION(data.size(1));
  info.input_components = int(data.size(2));
  info.in_color_space = space;
  jpeg_set_defaults(&info);
  if (stored != JCS_UNKNOWN) jpeg_set_colorspace(&info, stored);
  jpeg_set_quality(&info, 95, TRUE);
  if (progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  const int64_t row_bytes = data.size(1) * data.size(2);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = data.data_ptr<uint8_t>() + int64_t(info.next_scanline) * row_bytes;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return bytes;
}

// The message of the DataError `call` throws; fails the test when it throws nothing.
template <typename Call>
std::string data_error(Call call) {
  try {
    call();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

torch::Tensor smooth_picture(int64_t height, int64_t width) {
  auto y = torch::arange(height).view({height, 1, 1}).expand({height, width, 1});
  auto x = torch::arange(width).view({1, width, 1}).expand({height, width, 1});
  return torch::cat({y * 255 / height, x * 255 / width, (x + y) * 127 / (height + width)}, 2)
      .to(torch::kUInt8);
}

TEST(ReadImage, DecodesBaselineAndProgressiveJpegCloseToTheOriginal) {
  const auto rgb = smooth_picture(24, 40);
  for (bool progressive : {false, true}) {
    const auto back = decode_image(encode_jpeg(rgb, JCS_RGB, progressive), "p.jpg");
    ASSERT_EQ(back.sizes(), rgb.sizes());
    const auto error = (back.to(torch::kInt32) - rgb.to(torch::kInt32)).abs().max().item<int>();
    EXPECT_LE(error, 12) << "progressive " << progressive;
  }
}

TEST(ReadImage, ConvertsCmykAndYcckJpegsToRgb) {
  // Adobe's convention, which libjpeg writes with its Adobe marker: 255 = no ink. Pure red is
  // no cyan ink, full magenta and yellow, no black.
  auto cmyk = torch::empty({16, 16, 4}, torch::kUInt8);
  cmyk.select(2, 0).fill_(255);
  cmyk.select(2, 1).fill_(0);
  cmyk.select(2, 2).fill_(0);
  cmyk.select(2, 3).fill_(255);
  for (J_COLOR_SPACE stored : {JCS_CMYK, JCS_YCCK}) {
    const auto rgb = decode_image(encode_jpeg(cmyk, JCS_CMYK, false, stored), "cmyk.jpg");
    ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{16, 16, 3}));
    const auto mean = rgb.to(torch::kFloat32).mean(std::vector<int64_t>{0, 1});
    EXPECT_GT(mean[0].item<float>(), 240) << stored;
    EXPECT_LT(mean[1].item<float>(), 15) << stored;
    EXPECT_LT(mean[2].item<float>(), 15) << stored;
  }
}

TEST(ReadImage, RefusesATruncatedJpegInsteadOfFillingItIn) {
  const std::string whole = encode_jpeg(smooth_picture(64, 64));
  const std::string message =
      data_error([&] { decode_image(whole.substr(0, whole.size() / 2), "cut.jpg"); });
  EXPECT_EQ(message.rfind("cut.jpg: cannot decode JPEG: ", 0), 0u) << message;
  EXPECT_NE(message.find("Premature end"), std::string::npos) << message;
}

TEST(ReadImage, RefusesAJpegWhoseHeaderClaimsMorePixelsThanTheLimitBeforeDecoding) {
  std::string bytes = encode_jpeg(smooth_picture(8, 8));
  // The start-of-frame marker (FF C0): precision, then height and width, big-endian.
  const size_t sof = bytes.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {
    bytes[at] = char(0x1F);  // 8000 = 0x1F40
    bytes[at + 1] = char(0x40);
  }
  const std::string message = data_error([&] { decode_image(bytes, "huge.jpg"); });
  EXPECT_NE(message.find("huge.jpg: cannot decode JPEG: its header claims 8000 x 8000 pixels, "
                         "more than the limit of 50000000 pixels"),
            std::string::npos)
      << message;
  ImageLimits small;
  small.max_pixels = 63;
  EXPECT_NE(data_error([&] {
              decode_image(encode_jpeg(smooth_picture(8, 8)), "s.jpg", small);
            }).find("8 x 8 pixels, more than the limit of 63"),
            std::string::npos);
}

TEST(ReadImage, LimitsTheScansOfAProgressiveJpeg) {
  ImageLimits limits;
  limits.max_jpeg_scans = 3;  // jpeg_simple_progression writes 10 scans for colour
  const std::string message = data_error(
      [&] { decode_image(encode_jpeg(smooth_picture(16, 16), JCS_RGB, true), "p.jpg", limits); });
  EXPECT_NE(message.find("more than 3 progressive scans"), std::string::npos) << message;
}

TEST(ReadImage, RefusesTruncatedAndOversizedPngsNamingTheFile) {
  testing::TempDir dir;
  write_png(dir / "p.png", smooth_picture(40, 30));
  const std::string whole = read_file(dir / "p.png");
  for (size_t keep : {size_t(20), size_t(60), whole.size() - 20}) {
    const std::string message = data_error([&] { decode_image(whole.substr(0, keep), "c.png"); });
    EXPECT_EQ(message.rfind("c.png: cannot decode PNG: ", 0), 0u) << keep << ": " << message;
  }
  ImageLimits limits;
  limits.max_pixels = 40 * 30 - 1;
  EXPECT_NE(data_error([&] {
              read_image(dir / "p.png", limits);
            }).find("claims 30 x 40 pixels, more than the limit of 1199"),
            std::string::npos);
}

TEST(ReadImage, NamesAFolderOrAMissingFileAndTellsOtherFilesFromImages) {
  testing::TempDir dir;
  EXPECT_NE(data_error([&] { read_image(dir.path()); }).find("not a regular file"),
            std::string::npos);
  EXPECT_NE(data_error([&] { read_image(dir / "none.png"); }).find(dir / "none.png"),
            std::string::npos);
  EXPECT_EQ(data_error([&] { decode_image("GIF89a", "x.gif"); }), "x.gif: not a PNG or JPEG image");
}

}  // namespace
}  // namespace cifar_exp
