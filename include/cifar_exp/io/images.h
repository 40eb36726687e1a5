// Image files: those a user hands to `predict` (PNG through libpng or JPEG through libjpeg-turbo,
// of any size, read as 8-bit RGB and resized to the model's 32 x 32 input), and the PNG pictures
// cifar-exp writes (preview-augmentation).
#pragma once

#include <string>

#include <torch/torch.h>

namespace cifar_exp {

// What a decoded image may cost, checked from the file's header before anything is allocated:
// a few hundred bytes can claim 60000 x 60000 pixels. The defaults are documented in
// docs/install-evaluate-predict.md ("predict"); the fuzz target lowers them.
struct ImageLimits {
  int64_t max_pixels = 50'000'000;          // width x height (150 MB as 8-bit RGB)
  int64_t max_decoder_bytes = 512LL << 20;  // libjpeg's own buffers (progressive files)
  int64_t max_jpeg_scans = 500;             // progressive JPEG scans (each one re-reads all)
};

// uint8 H x W x 3 (RGB) of a PNG or JPEG file (told apart by their signatures, not the name);
// grey, palette, alpha and 16-bit PNGs and CMYK/YCCK JPEGs are converted. DataError naming the
// file when it is missing, not an image, larger than `limits`, truncated or damaged; nothing
// is printed by libpng or libjpeg (their warnings are errors here, or dropped when harmless).
torch::Tensor read_image(const std::string& path, const ImageLimits& limits = {});

// The same for the bytes of a file, named `name` in errors.
torch::Tensor decode_image(const std::string& bytes, const std::string& name,
                           const ImageLimits& limits = {});

// float 1 x 3 x size x size in [0, 1] of an H x W x 3 uint8 image: bilinear, with antialiasing
// when shrinking (the training data are whole CIFAR-10 images, so the whole picture is kept).
torch::Tensor image_to_input(const torch::Tensor& rgb, int64_t size = 32);

// An 8-bit RGB picture (uint8 H x W x 3) as PNG bytes, through libpng; OutputError naming `name`
// when it cannot be encoded.
std::string encode_png(const torch::Tensor& rgb, const std::string& name);

// Writes an 8-bit RGB picture (uint8 H x W x 3) as a PNG file through libpng, atomically.
// OutputError naming `path` when it cannot be encoded or written.
void write_png(const std::string& path, const torch::Tensor& rgb);

}  // namespace cifar_exp
