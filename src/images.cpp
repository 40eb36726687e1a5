// Decoding PNG and JPEG files for `predict` (see images.h).
#include "cifar_exp/images.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
#include <png.h>

#include "cifar_exp/errors.h"
#include "cifar_exp/files.h"

namespace cifar_exp {
namespace {

namespace F = torch::nn::functional;

// libpng reads from memory through this cursor.
struct PngSource {
  const std::string* bytes;
  size_t offset;
};

void read_png_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (source->offset + length > source->bytes->size()) png_error(png, "file is truncated");
  std::memcpy(out, source->bytes->data() + source->offset, length);
  source->offset += length;
}

// libpng reports errors by longjmp; the message is kept for the exception thrown afterwards.
char g_png_message[256];
void on_png_error(png_structp png, png_const_charp message) {
  std::snprintf(g_png_message, sizeof g_png_message, "%s", message);
  png_longjmp(png, 1);
}

torch::Tensor decode_png(const std::string& bytes, const std::string& path) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, on_png_error, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) throw DataError(path + ": cannot decode PNG (out of memory)");
  PngSource source{&bytes, 0};
  // Allocated before setjmp: nothing with a destructor is created after it in this frame.
  torch::Tensor pixels;
  std::vector<png_bytep> rows;
  g_png_message[0] = 0;
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw DataError(path + ": damaged PNG (" + g_png_message + ")");
  }
  png_set_read_fn(png, &source, read_png_bytes);
  png_read_info(png, info);
  // Whatever the file holds, read 8-bit RGB.
  png_set_strip_16(png);
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);
  png_read_update_info(png, info);
  const auto width = int64_t(png_get_image_width(png, info));
  const auto height = int64_t(png_get_image_height(png, info));
  pixels = torch::empty({height, width, 3}, torch::kUInt8);
  rows.resize(size_t(height));
  for (int64_t r = 0; r < height; ++r) rows[size_t(r)] = pixels.data_ptr<uint8_t>() + r * width * 3;
  png_read_image(png, rows.data());
  png_destroy_read_struct(&png, &info, nullptr);
  return pixels;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

torch::Tensor decode_jpeg(const std::string& bytes, const std::string& path) {
  jpeg_decompress_struct info{};
  JpegError error{};
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  torch::Tensor pixels;
  if (setjmp(error.jump) != 0) {
    jpeg_destroy_decompress(&info);
    throw DataError(path + ": damaged JPEG (" + error.message + ")");
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;  // grey and CMYK files too
  jpeg_start_decompress(&info);
  const int64_t width = info.output_width, height = info.output_height;
  pixels = torch::empty({height, width, 3}, torch::kUInt8);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels.data_ptr<uint8_t>() + int64_t(info.output_scanline) * width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return pixels;
}

}  // namespace

torch::Tensor read_image(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const OutputError& e) {
    throw DataError(e.what());
  }
  if (bytes.size() >= 8 &&
      png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0) {
    return decode_png(bytes, path);
  }
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8 &&
      static_cast<unsigned char>(bytes[2]) == 0xFF) {
    return decode_jpeg(bytes, path);
  }
  throw DataError(path + ": not a PNG or JPEG image");
}

torch::Tensor image_to_input(const torch::Tensor& rgb, int64_t size) {
  auto x = rgb.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div(255.0);
  if (x.size(2) == size && x.size(3) == size) return x;
  const bool shrinking = x.size(2) > size || x.size(3) > size;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{size, size})
                               .mode(torch::kBilinear)
                               .align_corners(false)
                               .antialias(shrinking))
      .clamp(0.0, 1.0);
}

namespace {

// libpng's output callback: append to the std::string behind the write pointer.
void append_png_bytes(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), length);
}

}  // namespace

void write_png(const std::string& path, const torch::Tensor& rgb) {
  auto pixels = rgb.to(torch::kCPU).to(torch::kUInt8).contiguous();
  if (pixels.dim() != 3 || pixels.size(2) != 3) {
    throw OutputError(path + ": internal error: PNG needs an H x W x 3 image");
  }
  const auto height = png_uint_32(pixels.size(0)), width = png_uint_32(pixels.size(1));
  // Encoded in memory, then written like every other file (so disk errors are reported alike).
  std::string encoded;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  volatile bool ok = png && info;
  // libpng reports errors by longjmp; nothing with a destructor is created in this frame after
  // setjmp (`encoded` grows through the callback only).
  if (ok && setjmp(png_jmpbuf(png)) == 0) {
    png_set_write_fn(png, &encoded, append_png_bytes, nullptr);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    auto* data = pixels.data_ptr<uint8_t>();
    for (png_uint_32 row = 0; row < height; ++row)
      png_write_row(png, data + size_t(row) * width * 3);
    png_write_end(png, nullptr);
  } else {
    ok = false;
  }
  png_destroy_write_struct(png ? &png : nullptr, info ? &info : nullptr);
  if (!ok) throw OutputError(path + ": cannot encode PNG");
  write_file_atomic(path, encoded);
}

}  // namespace cifar_exp
