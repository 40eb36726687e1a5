// Drawing on an RGB picture (uint8 H x W x 3) for the TensorBoard log: filled rectangles and text
// in a small built-in bitmap font (5 x 9 glyph boxes for ASCII 32..126: capitals and digits 7
// pixels tall, two rows below the baseline for descenders; 6 pixels apart), upright or turned a
// quarter left (reading upwards), at an integer scale. No font files, no other library, the same
// pixels everywhere. And the two pictures the log shows: the confusion matrix and a grid of
// images (the augmentation preview).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// The font's measures at scale 1, in pixels.
constexpr int64_t kGlyphWidth = 5;    // a glyph's box
constexpr int64_t kGlyphHeight = 9;   // with the descender rows
constexpr int64_t kCapHeight = 7;     // capitals, digits and ascenders: the box's top 7 rows
constexpr int64_t kGlyphAdvance = 6;  // from one character to the next

// The length along the line of `text` at `scale` (from the first glyph's first column to the
// last glyph's last; 0 for no text).
int64_t text_length(std::string_view text, int64_t scale = 1);

class Canvas {
 public:
  enum class Direction { kRight, kUp };  // upright; turned a quarter left, reading upwards

  Canvas(int64_t height, int64_t width, Rgb background);
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  // Pixels outside the picture are left out.
  void fill(int64_t x, int64_t y, int64_t w, int64_t h, Rgb colour);
  // kRight: (x, y) is the top left corner of the first glyph's box; the text runs right.
  // kUp: (x, y) is the bottom left corner of the turned text (the glyphs' tops face left):
  // it covers columns x .. x + kGlyphHeight * scale - 1 and runs upwards from row y.
  // Characters outside ASCII 32..126 are drawn as '?'.
  void text(int64_t x, int64_t y, std::string_view text, Rgb colour, int64_t scale = 1,
            Direction direction = Direction::kRight);
  const torch::Tensor& image() const { return image_; }  // uint8 H x W x 3

 private:
  int64_t height_, width_;
  torch::Tensor image_;
  uint8_t* data_;
};

// The confusion matrix (int64 C x C, rows true class, columns predicted) as a labelled picture,
// uint8 H x W x 3 (for CIFAR-10's 10 classes 582 wide, 402 high): one 40 x 22 px cell per entry,
// shaded from white (none of the row) to dark blue (the whole row), with its share of the row in
// whole percent, "0" to "100" (white on dark cells, dark on light ones, grey where the count is
// 0); the class names along both axes (rows' on the left, columns' below, turned), the axis
// titles "true" and "predicted", and a colour bar from 0% to 100% of the row in the corner below
// the row names. All text is at twice the size of the built-in font (18 px glyphs), so that it
// stays whole in TensorBoard's cards, which scale the picture down by nearest neighbour (to
// about 214 px high in the Time Series dashboard, 345 px wide in the Images one). Rows beyond
// `class_names` are named by their number; names are cut at 16 characters.
torch::Tensor confusion_image(const torch::Tensor& confusion,
                              const std::vector<std::string>& class_names);

// Rows of images side by side as one picture: column c of row r is columns[c][r] (float
// N x 3 x H x W in [0, 1]), scaled 3x with 4-pixel white gutters. uint8 H x W x 3.
torch::Tensor image_grid(const std::vector<torch::Tensor>& columns);

}  // namespace cifar_exp
