// Rectangles and bitmap text on an RGB picture, and the two pictures painted with them
// (painting.h).
#include "cifar_exp/io/painting.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace cifar_exp {
namespace {

// The font: for ASCII 32..126, the glyph's 9 rows from the top, each row's 5 pixels in the low
// 5 bits (bit 4 the leftmost). Rows 0..6 hold capitals, digits and ascenders (lower case from
// row 2), row 6 is the baseline's, rows 7 and 8 the descenders'.
constexpr uint8_t kFont[95][kGlyphHeight] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // space
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00},  // !
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // "
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00, 0x00},  // #
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00, 0x00},  // $
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00},  // %
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00, 0x00},  // &
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // quote
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00},  // (
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00},  // )
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00, 0x00},  // *
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00, 0x00},  // +
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x04, 0x08, 0x00},  // ,
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00},  // -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00, 0x00},  // .
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00},  // /
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00},  // 0
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00},  // 1
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00},  // 2
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00, 0x00},  // 3
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00, 0x00},  // 4
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00, 0x00},  // 5
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00, 0x00},  // 6
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00},  // 7
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00, 0x00},  // 8
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00, 0x00},  // 9
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00, 0x00},  // :
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08, 0x00, 0x00},  // ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00},  // <
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00},  // =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00},  // >
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00},  // ?
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E, 0x00, 0x00},  // @
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00},  // A
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00, 0x00},  // B
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00},  // C
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0x00, 0x00},  // D
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00, 0x00},  // E
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00},  // F
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00, 0x00},  // G
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00},  // H
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00},  // I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00, 0x00},  // J
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00},  // K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00, 0x00},  // L
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00},  // M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00},  // N
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00},  // O
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00},  // P
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00, 0x00},  // Q
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00, 0x00},  // R
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00, 0x00},  // S
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // T
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00},  // U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00},  // V
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00, 0x00},  // W
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00, 0x00},  // X
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // Y
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00, 0x00},  // Z
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00, 0x00},  // [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00},  // backslash
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00, 0x00},  // ]
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // ^
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00},  // _
    {0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // `
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00, 0x00},  // a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0x00, 0x00},  // b
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00},  // c
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0x00, 0x00},  // d
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00, 0x00},  // e
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00, 0x00},  // f
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // h
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00},  // i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},  // j
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00},  // k
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00},  // l
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11, 0x00, 0x00},  // m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // n
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00},  // o
    {0x00, 0x00, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10},  // p
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01},  // q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00},  // r
    {0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E, 0x00, 0x00},  // s
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00},  // t
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00, 0x00},  // u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00},  // v
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00, 0x00},  // w
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00, 0x00},  // x
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // y
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00},  // z
    {0x03, 0x04, 0x04, 0x08, 0x04, 0x04, 0x03, 0x00, 0x00},  // {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00},  // |
    {0x18, 0x04, 0x04, 0x02, 0x04, 0x04, 0x18, 0x00, 0x00},  // }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00},  // ~
};

const uint8_t* glyph(char c) {
  const int code = static_cast<unsigned char>(c);
  return kFont[(code >= 32 && code <= 126 ? code : '?') - 32];
}

}  // namespace

int64_t text_length(std::string_view text, int64_t scale) {
  if (text.empty()) return 0;
  return (int64_t(text.size()) * kGlyphAdvance - (kGlyphAdvance - kGlyphWidth)) * scale;
}

Canvas::Canvas(int64_t height, int64_t width, Rgb background)
    : height_(height), width_(width), image_(torch::empty({height, width, 3}, torch::kUInt8)) {
  data_ = image_.data_ptr<uint8_t>();
  fill(0, 0, width, height, background);
}

void Canvas::fill(int64_t x, int64_t y, int64_t w, int64_t h, Rgb colour) {
  const int64_t x0 = std::max<int64_t>(x, 0), x1 = std::min(x + w, width_);
  const int64_t y0 = std::max<int64_t>(y, 0), y1 = std::min(y + h, height_);
  for (int64_t row = y0; row < y1; ++row) {
    uint8_t* p = data_ + (row * width_ + x0) * 3;
    for (int64_t col = x0; col < x1; ++col, p += 3) {
      p[0] = colour.r;
      p[1] = colour.g;
      p[2] = colour.b;
    }
  }
}

void Canvas::text(int64_t x, int64_t y, std::string_view text, Rgb colour, int64_t scale,
                  Direction direction) {
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t* rows = glyph(text[i]);
    const int64_t pen = int64_t(i) * kGlyphAdvance;  // along the line, at scale 1
    for (int64_t gy = 0; gy < kGlyphHeight; ++gy) {
      for (int64_t gx = 0; gx < kGlyphWidth; ++gx) {
        if (!(rows[gy] & (0x10 >> gx))) continue;
        if (direction == Direction::kRight) {
          fill(x + (pen + gx) * scale, y + gy * scale, scale, scale, colour);
        } else {  // the glyph's top to the left, its line upwards
          fill(x + gy * scale, y - (pen + gx + 1) * scale + 1, scale, scale, colour);
        }
      }
    }
  }
}

namespace {

// The confusion picture's text is at twice the font's size (glyphs 18 px tall). TensorBoard shows
// the picture fitted to its card, scaled by nearest neighbour: in the Time Series dashboard (the
// default) into about 214 px of height, in the Images dashboard into about 345 px of width. At
// half size or more every 2 px stroke, gap and grid line keeps a pixel, so the picture is kept
// low (402 px for CIFAR-10) and narrow (582 px).
constexpr int64_t kScale = 2;
const Rgb kWhite{255, 255, 255}, kInk{32, 32, 32}, kLines{200, 200, 200}, kFaint{175, 175, 175};

// White (none of the row) to dark blue (the whole row): RGB (255, 255, 255) -> (8, 48, 107).
Rgb shade(double f) {
  const auto channel = [f](double dark) {
    return uint8_t(std::lround(255.0 + (dark - 255.0) * f));
  };
  return Rgb{channel(8), channel(48), channel(107)};
}

// What the confusion picture says: each row's name (cut at 16 characters) and each cell's share
// of its row, as a fraction and in whole percent.
struct ConfusionTable {
  int64_t n = 0;
  std::vector<std::string> names, percents;
  std::vector<double> shares;
  std::vector<bool> none;   // the cell's count is 0
  int64_t name_length = 0;  // the longest name's, at kScale
};

ConfusionTable confusion_table(const torch::Tensor& confusion,
                               const std::vector<std::string>& class_names) {
  const auto counts = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  const auto count = counts.accessor<int64_t, 2>();
  ConfusionTable t;
  const int64_t n = t.n = counts.size(0);
  t.names.resize(size_t(n));
  t.percents.resize(size_t(n * n));
  t.shares.resize(size_t(n * n));
  t.none.resize(size_t(n * n));
  for (int64_t r = 0; r < n; ++r) {
    std::string& name = t.names[size_t(r)];
    name = size_t(r) < class_names.size() ? class_names[size_t(r)] : std::to_string(r);
    if (name.size() > 16) name.resize(16);
    t.name_length = std::max(t.name_length, text_length(name, kScale));
    int64_t total = 0;
    for (int64_t c = 0; c < n; ++c) total += count[r][c];
    for (int64_t c = 0; c < n; ++c) {
      const double share = double(count[r][c]) / double(std::max<int64_t>(total, 1));
      t.shares[size_t(r * n + c)] = share;
      t.percents[size_t(r * n + c)] = std::to_string(std::lround(100.0 * share));
      t.none[size_t(r * n + c)] = count[r][c] == 0;
    }
  }
  return t;
}

// Left to right: the turned title "true", the row names (right-aligned), the grid. Top to
// bottom: the grid, the column names (turned, ending at the grid), the title "predicted". The
// colour bar lies in the corner below the row names, left of the column names. Cells 40 px
// wide, room for "100", and 22 px high, a line of text (the picture stays low: the Time Series
// card fits it by its height), between grid lines 2 px wide (so that none drops out at half
// size).
constexpr int64_t kPad = 6, kGap = 6, kLine = kGlyphHeight * kScale, kCap = kCapHeight * kScale;
constexpr int64_t kCellW = 40, kCellH = 22, kRule = 2;
constexpr int64_t kPitchX = kCellW + kRule, kPitchY = kCellH + kRule;
constexpr int64_t kBarH = 14;
const char* const kCaption = "% of row";
const char* const kLowMark = "0%";
const char* const kHighMark = "100%";

// Where the parts of the picture of `table` lie.
struct ConfusionLayout {
  explicit ConfusionLayout(const ConfusionTable& table);
  int64_t grid_w, grid_h, legend_w, legend_h, grid_x, grid_y, names_y, band_h, title_y, width,
      height;
};

ConfusionLayout::ConfusionLayout(const ConfusionTable& table) {
  grid_w = table.n * kPitchX + kRule;
  grid_h = table.n * kPitchY + kRule;
  legend_w = std::max(text_length(kCaption, kScale),
                      text_length(kLowMark, kScale) + kGap + text_length(kHighMark, kScale));
  legend_h = kLine + 4 + kBarH + 4 + kLine;
  const int64_t left_w = std::max(table.name_length, legend_w);
  grid_x = kPad + kLine + kGap + left_w + kGap;
  grid_y = kPad;
  names_y = grid_y + grid_h + kGap;
  band_h = std::max(table.name_length, legend_h);
  title_y = names_y + band_h + kGap;
  width = grid_x + grid_w + kPad;
  height = title_y + kLine + kPad;
}

// The grid: each cell shaded by its share of the row, with that share in whole percent, centred.
void draw_cells(Canvas& canvas, const ConfusionTable& t, const ConfusionLayout& at) {
  canvas.fill(at.grid_x, at.grid_y, at.grid_w, at.grid_h, kLines);
  const int64_t centre_y = (kCellH - kCap) / 2;  // a line of text's offset in its row
  for (int64_t r = 0; r < t.n; ++r) {
    for (int64_t c = 0; c < t.n; ++c) {
      const Rgb colour = shade(t.shares[size_t(r * t.n + c)]);
      const int64_t x = at.grid_x + kRule + c * kPitchX, y = at.grid_y + kRule + r * kPitchY;
      canvas.fill(x, y, kCellW, kCellH, colour);
      // Dark text on light cells, white on dark ones (by the cell's luminance); 0 of the row
      // faint (a count that rounds to 0 % is dark).
      const double luminance = 0.299 * colour.r + 0.587 * colour.g + 0.114 * colour.b;
      const std::string& percent = t.percents[size_t(r * t.n + c)];
      canvas.text(x + (kCellW - text_length(percent, kScale)) / 2, y + centre_y, percent,
                  t.none[size_t(r * t.n + c)] ? kFaint
                  : luminance < 128           ? kWhite
                                              : kInk,
                  kScale);
    }
  }
}

// The class names along both axes (rows' on the left, columns' below, turned) and the axis
// titles.
void draw_names(Canvas& canvas, const ConfusionTable& t, const ConfusionLayout& at) {
  const int64_t centre_y = (kCellH - kCap) / 2;
  for (int64_t r = 0; r < t.n; ++r) {
    const std::string& name = t.names[size_t(r)];
    const int64_t length = text_length(name, kScale);
    canvas.text(at.grid_x - kGap - length, at.grid_y + kRule + r * kPitchY + centre_y, name, kInk,
                kScale);
    canvas.text(at.grid_x + kRule + r * kPitchX + (kCellW - kCap) / 2, at.names_y + length - 1,
                name, kInk, kScale, Canvas::Direction::kUp);
  }
  canvas.text(kPad, at.grid_y + (at.grid_h + text_length("true", kScale)) / 2, "true", kInk, kScale,
              Canvas::Direction::kUp);
  canvas.text(at.grid_x + (at.grid_w - text_length("predicted", kScale)) / 2, at.title_y,
              "predicted", kInk, kScale);
}

// The colour bar, 0% of the row on the left to 100% on the right, in a grey frame (2 px), under
// its caption and over its end labels; right-aligned with the row names, in the middle of the
// band of column names.
void draw_legend(Canvas& canvas, const ConfusionLayout& at) {
  const int64_t legend_x = at.grid_x - kGap - at.legend_w;
  const int64_t legend_y = at.names_y + (at.band_h - at.legend_h) / 2;
  canvas.text(legend_x, legend_y, kCaption, kInk, kScale);
  const int64_t bar_y = legend_y + kLine + 4;
  canvas.fill(legend_x, bar_y, at.legend_w, kBarH, kLines);
  const int64_t left = legend_x + kRule, right = legend_x + at.legend_w - kRule - 1;
  for (int64_t x = left; x <= right; ++x) {
    canvas.fill(x, bar_y + kRule, 1, kBarH - 2 * kRule,
                shade(double(x - left) / double(right - left)));
  }
  const int64_t marks_y = bar_y + kBarH + 4;
  canvas.text(legend_x, marks_y, kLowMark, kInk, kScale);
  canvas.text(legend_x + at.legend_w - text_length(kHighMark, kScale), marks_y, kHighMark, kInk,
              kScale);
}

}  // namespace

torch::Tensor confusion_image(const torch::Tensor& confusion,
                              const std::vector<std::string>& class_names) {
  const ConfusionTable table = confusion_table(confusion, class_names);
  const ConfusionLayout layout(table);
  Canvas canvas(layout.height, layout.width, kWhite);
  draw_cells(canvas, table, layout);
  draw_names(canvas, table, layout);
  draw_legend(canvas, layout);
  return canvas.image();
}

torch::Tensor image_grid(const std::vector<torch::Tensor>& columns) {
  const int64_t scale = 3, gap = 4;
  const int64_t tile_h = columns.front().size(2) * scale, tile_w = columns.front().size(3) * scale;
  const int64_t rows = columns.front().size(0), cols = int64_t(columns.size());
  auto grid = torch::full({rows * (tile_h + gap) + gap, cols * (tile_w + gap) + gap, 3}, 255,
                          torch::kUInt8);
  for (int64_t c = 0; c < cols; ++c) {
    auto pixels = columns[size_t(c)]
                      .clamp(0, 1)
                      .mul(255)
                      .round()
                      .to(torch::kUInt8)
                      .repeat_interleave(scale, 2)
                      .repeat_interleave(scale, 3)
                      .permute({0, 2, 3, 1});  // N x H x W x 3
    for (int64_t r = 0; r < rows; ++r) {
      grid.narrow(0, gap + r * (tile_h + gap), tile_h)
          .narrow(1, gap + c * (tile_w + gap), tile_w)
          .copy_(pixels[r]);
    }
  }
  return grid;
}

}  // namespace cifar_exp
