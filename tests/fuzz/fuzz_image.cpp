// libFuzzer target: predict's image decoder (images.h), PNG and JPEG. Any bytes must end in an
// 8-bit RGB picture within the limits, or a DataError whose one line names the file. The limits
// are lowered so that a small input cannot make the target slow; sanitize.sh also caps memory.
#include <cstdint>
#include <string>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/images.h"
#include "fuzz_support.h"

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_image", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  cifar_exp::ImageLimits limits;
  limits.max_pixels = 1 << 20;
  limits.max_decoder_bytes = 64 << 20;
  limits.max_jpeg_scans = 64;
  try {
    const auto rgb = cifar_exp::decode_image(bytes, "fuzz.img", limits);
    require(rgb.dim() == 3 && rgb.size(2) == 3, "an H x W x 3 picture");
    require(rgb.size(0) > 0 && rgb.size(1) > 0, "at least one pixel");
    require(rgb.size(0) * rgb.size(1) <= limits.max_pixels, "within the pixel limit");
    require(rgb.scalar_type() == torch::kUInt8, "8-bit");
  } catch (const cifar_exp::DataError& e) {
    const std::string message = e.what();
    require(message.rfind("fuzz.img: ", 0) == 0, "the error names the file");
    require(message.find('\n') == std::string::npos, "the error is one line");
  }
  return 0;
}
