// Decoding PNG and JPEG files for `predict` (see images.h).
#include "cifar_exp/io/images.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <jpeglib.h>
#include <png.h>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"

namespace cifar_exp {
namespace {

namespace F = torch::nn::functional;

// What a decoder hands back: the pixels as `channels` bytes per pixel (3 RGB, or 4 CMYK for
// JPEG), or an error message. The buffers live in the caller's frame: libpng and libjpeg report
// errors by longjmp, so no object with a destructor is created in the frames they jump across.
struct Decoded {
  std::vector<uint8_t> pixels;
  int64_t width = 0, height = 0, channels = 3;
  bool adobe_cmyk = false;  // Adobe's CMYK JPEGs store inverted values (255 = no ink)
  char message[JMSG_LENGTH_MAX + 200] = {};
};

// Room for width x height x channels bytes, or a message saying why not.
bool allocate(Decoded& out, int64_t width, int64_t height, int64_t channels,
              const ImageLimits& limits) {
  if (width <= 0 || height <= 0) {
    std::snprintf(out.message, sizeof out.message, "no pixels (%lld x %lld)",
                  static_cast<long long>(width), static_cast<long long>(height));
    return false;
  }
  if (width > limits.max_pixels / height) {
    std::snprintf(out.message, sizeof out.message,
                  "its header claims %lld x %lld pixels, more than the limit of %lld pixels",
                  static_cast<long long>(width), static_cast<long long>(height),
                  static_cast<long long>(limits.max_pixels));
    return false;
  }
  try {
    out.pixels.resize(size_t(width * height * channels));
  } catch (const std::bad_alloc&) {
    std::snprintf(out.message, sizeof out.message, "out of memory for %lld x %lld pixels",
                  static_cast<long long>(width), static_cast<long long>(height));
    return false;
  }
  out.width = width;
  out.height = height;
  out.channels = channels;
  return true;
}

// ---- PNG (libpng) ----

struct PngReader {
  const std::string* bytes;
  size_t offset;
  Decoded* out;
};

void read_png_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* reader = static_cast<PngReader*>(png_get_io_ptr(png));
  if (length > reader->bytes->size() - reader->offset) png_error(png, "file is truncated");
  std::memcpy(out, reader->bytes->data() + reader->offset, length);
  reader->offset += length;
}

void on_png_error(png_structp png, png_const_charp message) {
  auto* out = static_cast<Decoded*>(png_get_error_ptr(png));
  std::snprintf(out->message, sizeof out->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about ancillary data we do not use (colour profiles, text): never printed, and
// not a reason to refuse the picture. Damage to the pixels is an error (benign errors off).
void on_png_warning(png_structp, png_const_charp) {}

// True when `out` holds 8-bit RGB pixels; else out.message says why.
bool decode_png(const std::string& bytes, const ImageLimits& limits, Decoded& out) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &out, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    std::snprintf(out.message, sizeof out.message, "out of memory");
    if (png) png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  PngReader reader{&bytes, 0, &out};
  png_bytep* volatile rows = nullptr;  // malloc'd, freed on both paths (volatile: see setjmp)
  if (setjmp(png_jmpbuf(png)) != 0) {
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &reader, read_png_bytes);
  png_set_benign_errors(png, 0);           // "not enough image data" and the like are errors
  png_set_chunk_malloc_max(png, 8 << 20);  // a compressed text or profile chunk's expansion
  png_read_info(png, info);
  const auto width = int64_t(png_get_image_width(png, info));
  const auto height = int64_t(png_get_image_height(png, info));
  if (!allocate(out, width, height, 3, limits)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  // Whatever the file holds, read 8-bit RGB.
  png_set_strip_16(png);
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != size_t(width * 3)) png_error(png, "unexpected row size");
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * size_t(height)));
  if (!rows) png_error(png, "out of memory");
  for (int64_t r = 0; r < height; ++r) rows[r] = out.pixels.data() + r * width * 3;
  png_read_image(png, rows);
  png_read_end(png, nullptr);  // the rest of the file: a damaged end is damage too
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- JPEG (libjpeg-turbo) ----

struct JpegReader {
  jpeg_decompress_struct info;
  jpeg_error_mgr errors;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  Decoded* out;
  int64_t max_scans;
};

JpegReader& reader_of(j_common_ptr info) { return *static_cast<JpegReader*>(info->client_data); }

void on_jpeg_error(j_common_ptr info) {
  JpegReader& reader = reader_of(info);
  char text[JMSG_LENGTH_MAX];
  (*info->err->format_message)(info, text);
  std::snprintf(reader.out->message, sizeof reader.out->message, "%s", text);
  std::longjmp(reader.jump, 1);
}

// libjpeg's warnings (level -1) are damage it would paper over, a truncated file filled with
// grey for one: errors here. Trace messages (level >= 0) are dropped. Nothing is printed.
void on_jpeg_message(j_common_ptr info, int level) {
  if (level < 0) on_jpeg_error(info);
}

// Each scan of a progressive file re-reads the whole image: a small file of thousands of scans
// would take minutes.
void on_jpeg_progress(j_common_ptr info) {
  JpegReader& reader = reader_of(info);
  const auto* decompress = reinterpret_cast<j_decompress_ptr>(info);
  if (decompress->input_scan_number > reader.max_scans) {
    std::snprintf(reader.out->message, sizeof reader.out->message,
                  "more than %lld progressive scans", static_cast<long long>(reader.max_scans));
    std::longjmp(reader.jump, 1);
  }
}

bool decode_jpeg(const std::string& bytes, const ImageLimits& limits, Decoded& out) {
  JpegReader reader;
  std::memset(static_cast<void*>(&reader), 0, sizeof reader);
  reader.out = &out;
  reader.max_scans = limits.max_jpeg_scans;
  j_decompress_ptr info = &reader.info;
  info->err = jpeg_std_error(&reader.errors);
  reader.errors.error_exit = on_jpeg_error;
  reader.errors.emit_message = on_jpeg_message;
  reader.errors.output_message = [](j_common_ptr) {};
  reader.progress.progress_monitor = on_jpeg_progress;
  if (setjmp(reader.jump) != 0) {
    jpeg_destroy_decompress(info);
    return false;
  }
  jpeg_create_decompress(info);
  info->client_data = &reader;
  info->progress = &reader.progress;
  info->mem->max_memory_to_use = long(limits.max_decoder_bytes);
  jpeg_mem_src(info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(info, TRUE);
  const bool cmyk = info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK;
  // libjpeg converts grey and YCbCr to RGB, and YCCK to CMYK, but not CMYK to RGB: done below.
  info->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  out.adobe_cmyk = cmyk && info->saw_Adobe_marker;
  if (!allocate(out, info->image_width, info->image_height, cmyk ? 4 : 3, limits)) {
    jpeg_destroy_decompress(info);
    return false;
  }
  jpeg_start_decompress(info);
  if (int64_t(info->output_width) != out.width || int64_t(info->output_height) != out.height ||
      info->output_components != out.channels) {
    std::snprintf(out.message, sizeof out.message, "unexpected output geometry");
    jpeg_destroy_decompress(info);
    return false;
  }
  while (info->output_scanline < info->output_height) {
    JSAMPROW row = out.pixels.data() + int64_t(info->output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(info, &row, 1);
  }
  jpeg_finish_decompress(info);
  jpeg_destroy_decompress(info);
  return true;
}

// H x W x 4 CMYK -> H x W x 3 RGB, the naive conversion every viewer without colour management
// uses: R = (1 - C)(1 - K), with Adobe's inverted values R = C K.
torch::Tensor cmyk_to_rgb(const torch::Tensor& cmyk, bool inverted) {
  auto ink = cmyk.to(torch::kInt32);
  if (!inverted) ink = 255 - ink;  // now 255 = no ink
  const auto k = ink.select(2, 3).unsqueeze(2);
  return (ink.slice(2, 0, 3) * k + 127).div(255, "floor").clamp(0, 255).to(torch::kUInt8);
}

}  // namespace

torch::Tensor decode_image(const std::string& bytes, const std::string& name,
                           const ImageLimits& limits) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const bool png =
      bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
  const bool jpeg = bytes.size() >= 3 && byte(0) == 0xFF && byte(1) == 0xD8 && byte(2) == 0xFF;
  if (!png && !jpeg) throw DataError(name + ": not a PNG or JPEG image");
  Decoded decoded;
  const bool ok = png ? decode_png(bytes, limits, decoded) : decode_jpeg(bytes, limits, decoded);
  if (!ok) {
    throw DataError(name + ": cannot decode " + (png ? "PNG" : "JPEG") + ": " +
                    first_line(decoded.message));
  }
  auto pixels = torch::from_blob(decoded.pixels.data(),
                                 {decoded.height, decoded.width, decoded.channels}, torch::kUInt8);
  return decoded.channels == 4 ? cmyk_to_rgb(pixels, decoded.adobe_cmyk) : pixels.clone();
}

torch::Tensor read_image(const std::string& path, const ImageLimits& limits) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const OutputError& e) {
    throw DataError(e.what());
  }
  return decode_image(bytes, path, limits);
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

std::string encode_png(const torch::Tensor& rgb, const std::string& name) {
  const std::string& path = name;
  auto pixels = rgb.to(torch::kCPU).to(torch::kUInt8).contiguous();
  if (pixels.dim() != 3 || pixels.size(2) != 3) {
    throw OutputError(path + ": internal error: PNG needs an H x W x 3 image");
  }
  const auto height = png_uint_32(pixels.size(0)), width = png_uint_32(pixels.size(1));
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
  return encoded;
}

void write_png(const std::string& path, const torch::Tensor& rgb) {
  // Encoded in memory, then written like every other file (so disk errors are reported alike).
  write_file_atomic(path, encode_png(rgb, path));
}

}  // namespace cifar_exp
