// The pictures of painting.h: the confusion matrix, cell by cell and label by label, at
// CIFAR-10's size and for any number of classes.
#include "cifar_exp/io/painting.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cifar_exp {
namespace {

// Where the pixels of one colour lie in a rectangle of a picture (uint8 H x W x 3).
struct Pixels {
  int64_t count = 0, left = -1, top = -1, right = -1, bottom = -1;  // a bounding box, inclusive
};
using Colour = std::array<int64_t, 3>;
constexpr Colour kWhite{255, 255, 255}, kDarkest{8, 48, 107}, kInk{32, 32, 32},
    kLines{200, 200, 200}, kFaint{175, 175, 175};

Colour colour_at(const torch::Tensor& image, int64_t x, int64_t y) {
  const auto a = image.accessor<uint8_t, 3>();
  return {a[y][x][0], a[y][x][1], a[y][x][2]};
}

Pixels find(const torch::Tensor& image, Colour colour, int64_t x, int64_t y, int64_t w, int64_t h) {
  Pixels p;
  for (int64_t row = y; row < y + h; ++row) {
    for (int64_t col = x; col < x + w; ++col) {
      if (colour_at(image, col, row) != colour) continue;
      if (p.count++ == 0) p.left = p.right = col, p.top = p.bottom = row;
      p.left = std::min(p.left, col), p.right = std::max(p.right, col);
      p.top = std::min(p.top, row), p.bottom = std::max(p.bottom, row);
    }
  }
  return p;
}

const std::vector<std::string> kCifar10 = {"airplane", "automobile", "bird",  "cat",  "deer",
                                           "dog",      "frog",       "horse", "ship", "truck"};

// The CIFAR-10 picture's layout (src/io/painting.cpp), all text at scale 2 (glyphs 10 x 18 px,
// capitals and digits 14 px tall, 12 px apart): a 6 px border; the turned title "true" (18 px)
// and the row names (right-aligned, "automobile" 118 px) 6 px apart left of the grid; cells 40 x
// 22 px between grid lines 2 px wide; the column names (turned) 6 px below the grid, then 6 px
// further down "predicted"; the colour bar's legend (94 px wide, 58 high) right-aligned with the
// row names, in the middle of the column names' band.
constexpr int64_t kWidth = 582, kHeight = 402;
constexpr int64_t kGridLeft = 154, kGridTop = 6, kCellW = 40, kCellH = 22, kPitchX = 42,
                  kPitchY = 24, kGridW = 422, kGridH = 242;
constexpr int64_t kNamesTop = 254, kTitleTop = 378;
constexpr int64_t kLegendLeft = 54, kCaptionTop = 284, kBarTop = 306, kMarksTop = 324;
// Pixels of the font's glyphs (at scale 1; 4 times as many at scale 2).
constexpr int64_t kDots0 = 16, kDots1 = 10, kDots2 = 14, kDots3 = 14, kDots5 = 17, kDots6 = 15,
                  kDots7 = 11, kDotsPercent = 13;

int64_t cell_left(int64_t col) { return kGridLeft + 2 + col * kPitchX; }
int64_t cell_top(int64_t row) { return kGridTop + 2 + row * kPitchY; }

torch::Tensor cifar10_picture() {
  auto confusion = torch::zeros({10, 10}, torch::kInt64);
  for (int c = 0; c < 10; ++c) confusion[c][c] = 5;
  confusion[3][3] = 2;
  confusion[3][7] = 2;  // row 3: half right, half class 7
  confusion[5][5] = 2;
  confusion[5][3] = 1;  // row 5: 67% right, 33% class 3
  confusion[8][8] = 300;
  confusion[8][1] = 1;  // row 8: 99.7% right (100), 0.3% class 1 (0, but not none)
  return confusion_image(confusion, kCifar10);
}

TEST(ConfusionImage, ShadesEachCellByItsShareOfTheRow) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{kHeight, kWidth, 3}));
  ASSERT_EQ(image.scalar_type(), torch::kUInt8);
  const auto cell = [&](int64_t row, int64_t col) {  // a cell's top left corner, clear of text
    return colour_at(image, cell_left(col) + 1, cell_top(row) + 1);
  };
  EXPECT_EQ(cell(0, 0), kDarkest);  // the whole row
  EXPECT_EQ(cell(9, 9), kDarkest);
  EXPECT_EQ(cell(0, 1), kWhite);                   // none of it
  EXPECT_EQ(cell(3, 7), (Colour{132, 152, 181}));  // half
  EXPECT_EQ(cell(3, 3), cell(3, 7));
  EXPECT_EQ(cell(3, 4), kWhite);
  EXPECT_EQ(cell(5, 5), (Colour{90, 117, 156}));   // two thirds
  EXPECT_EQ(cell(5, 3), (Colour{173, 186, 206}));  // a third
  EXPECT_EQ(cell(8, 1), (Colour{254, 254, 255}));  // 1 of 301
  // Each cell fills its 40 x 22 px (text from its 5th row), the grid lines (2 px) between them.
  EXPECT_EQ(find(image, kDarkest, cell_left(0), cell_top(0), kCellW, 4).count, kCellW * 4);
  EXPECT_EQ(find(image, kDarkest, cell_left(0) - 2, cell_top(0) - 2, kCellW + 4, kCellH + 4).left,
            cell_left(0));
  EXPECT_EQ(find(image, kDarkest, cell_left(0) - 2, cell_top(0) - 2, kCellW + 4, kCellH + 4).bottom,
            cell_top(0) + kCellH - 1);
  EXPECT_EQ(find(image, kDarkest, cell_left(0), cell_top(0), kCellW + 4, 1).right,
            cell_left(0) + kCellW - 1);
  for (const int64_t d : {0, 1}) {
    EXPECT_EQ(colour_at(image, kGridLeft + d, kGridTop + d), kLines);
    EXPECT_EQ(colour_at(image, cell_left(1) - 1 - d, cell_top(4) + 5), kLines);  // between columns
    EXPECT_EQ(colour_at(image, cell_left(4) + 5, cell_top(1) - 1 - d), kLines);  // between rows
    EXPECT_EQ(colour_at(image, kGridLeft + kGridW - 1 - d, kGridTop + kGridH - 1 - d), kLines);
  }
  EXPECT_EQ(colour_at(image, kGridLeft + kGridW, kGridTop + kGridH), kWhite);
  EXPECT_EQ(colour_at(image, kGridLeft - 1, kGridTop + 5), kWhite);
  // The colour bar (94 x 14 px in a 2 px grey frame) runs from white (0% of the row) on the left
  // to the darkest cell's colour (100%) on the right, growing darker all the way.
  const int64_t bar_y = kBarTop + 7, bar_left = kLegendLeft + 2, bar_right = kLegendLeft + 91;
  EXPECT_EQ(colour_at(image, kLegendLeft, kBarTop), kLines);
  EXPECT_EQ(colour_at(image, kLegendLeft + 1, kBarTop + 1), kLines);
  EXPECT_EQ(colour_at(image, kLegendLeft + 93, kBarTop + 13), kLines);
  EXPECT_EQ(colour_at(image, bar_left, bar_y), kWhite);
  EXPECT_EQ(colour_at(image, bar_right, bar_y), kDarkest);
  EXPECT_EQ(colour_at(image, bar_left, kBarTop + 2), colour_at(image, bar_left, kBarTop + 11));
  for (int64_t x = bar_left + 1; x <= bar_right; ++x) {
    ASSERT_LT(colour_at(image, x, bar_y)[0], colour_at(image, x - 1, bar_y)[0]) << x;
  }
  // Nothing on the picture is bluer than the whole row's colour.
  EXPECT_EQ(torch::sub(image.select(2, 2).to(torch::kInt64), image.select(2, 0).to(torch::kInt64))
                .max()
                .item<int64_t>(),
            107 - 8);
}

TEST(ConfusionImage, NamesTheRowsAndColumns) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{kHeight, kWidth, 3}));
  // The row names, right-aligned 6 px left of the grid, one in each row, 4 px below its top:
  // each ends at the same column ('k' of "truck" one font column short), "automobile" (118 px)
  // begins furthest left.
  const auto row_name = [&](int64_t r) {
    return find(image, kInk, 24, cell_top(r), kGridLeft - 24, kCellH);
  };
  for (int64_t r = 0; r < 10; ++r) {
    const auto name = row_name(r);
    EXPECT_GT(name.count, 100) << kCifar10[size_t(r)];
    EXPECT_EQ(name.right, kGridLeft - 7 - (r == 9 ? 2 : 0)) << kCifar10[size_t(r)];
    EXPECT_GE(name.left, kGridLeft - 6 - 118) << kCifar10[size_t(r)];
    EXPECT_EQ(name.top, cell_top(r) + 4) << kCifar10[size_t(r)];
  }
  EXPECT_EQ(row_name(1).left, 30);
  const auto cat = row_name(3);
  EXPECT_EQ(cat.left, kGridLeft - 6 - 34);
  EXPECT_EQ(cat.bottom, cell_top(3) + 4 + 13);          // capitals' height, 14 px
  EXPECT_EQ(cat.count, 4 * (10 + 14 + 11));             // c, a, t at scale 2
  EXPECT_EQ(row_name(5).bottom, cell_top(5) + 4 + 17);  // "dog": g's descender
  // The column names, turned (reading upwards), each ending 6 px below the grid, centred in its
  // column.
  const auto column_name = [&](int64_t c) {
    return find(image, kInk, cell_left(c), kNamesTop, kCellW, kTitleTop - kNamesTop);
  };
  for (int64_t c = 0; c < 10; ++c) {
    const auto name = column_name(c);
    EXPECT_GT(name.count, 100) << kCifar10[size_t(c)];
    EXPECT_EQ(name.top, kNamesTop + (c == 9 ? 2 : 0)) << kCifar10[size_t(c)];
    EXPECT_EQ(name.left, cell_left(c) + 13) << kCifar10[size_t(c)];
    EXPECT_LE(name.right, cell_left(c) + 13 + 17) << kCifar10[size_t(c)];
  }
  EXPECT_EQ(column_name(1).bottom, kNamesTop + 118 - 1);  // "automobile"
  EXPECT_EQ(column_name(3).bottom, kNamesTop + 34 - 1);   // "cat"
  EXPECT_EQ(column_name(3).right, cell_left(3) + 13 + 13);
  EXPECT_EQ(column_name(3).count, cat.count);
}

TEST(ConfusionImage, TitlesTheAxesAndLabelsTheColourBar) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{kHeight, kWidth, 3}));
  // The axis titles: "true" turned in the left border, "predicted" centred below the column
  // names.
  const auto true_title = find(image, kInk, 0, kGridTop, 24, kGridH);
  EXPECT_EQ(true_title.count, 4 * (11 + 9 + 12 + 14));
  EXPECT_EQ(true_title.left, 6);
  EXPECT_EQ(true_title.right, 6 + 13);
  const auto predicted = find(image, kInk, 0, kTitleTop, kWidth, kHeight - kTitleTop);
  EXPECT_EQ(predicted.count, 4 * 115);
  EXPECT_EQ(predicted.top, kTitleTop);
  EXPECT_EQ(predicted.bottom, kTitleTop + 17);  // p's descender
  EXPECT_GT(predicted.left, kGridLeft + 100);
  EXPECT_LT(predicted.right, kGridLeft + kGridW - 100);
  // The colour bar's caption "% of row" above it, "0%" below its left end, "100%" its right.
  const auto caption = find(image, kInk, 24, kCaptionTop, kGridLeft - 24, 18);
  EXPECT_EQ(caption.count, 4 * (kDotsPercent + 12 + 11 + 9 + 12 + 12));
  EXPECT_EQ(caption.left, kLegendLeft);
  const auto low = find(image, kInk, 24, kMarksTop, kLegendLeft + 40 - 24, 18);
  EXPECT_EQ(low.count, 4 * (kDots0 + kDotsPercent));
  EXPECT_EQ(low.left, kLegendLeft);
  const auto high =
      find(image, kInk, kLegendLeft + 40, kMarksTop, kGridLeft - kLegendLeft - 40, 18);
  EXPECT_EQ(high.count, 4 * (kDots1 + 2 * kDots0 + kDotsPercent));
  EXPECT_EQ(high.right, kLegendLeft + 93);
  EXPECT_EQ(find(image, kInk, 24, kBarTop, kGridLeft - 24, 14).count, 0);
}

TEST(ConfusionImage, ShowsEachCellsPercentage) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{kHeight, kWidth, 3}));
  // Each cell's share of its row in whole percent, centred, in a colour that stands out from the
  // cell: white on dark cells, dark on light ones, grey for none of the row (a count that rounds
  // to 0% is dark).
  const auto in_cell = [&](int64_t row, int64_t col, Colour colour) {
    return find(image, colour, cell_left(col), cell_top(row), kCellW, kCellH);
  };
  const auto hundred = in_cell(0, 0, kWhite);
  EXPECT_EQ(hundred.count, 4 * (kDots1 + 2 * kDots0));
  EXPECT_EQ(hundred.left - cell_left(0), 3 + 2);  // (40 - 34) / 2; '1' starts a column in
  EXPECT_EQ(hundred.right - cell_left(0), 3 + 33);
  EXPECT_EQ(hundred.top - cell_top(0), 4);  // (22 - 14) / 2
  EXPECT_EQ(hundred.bottom - cell_top(0), 4 + 13);
  EXPECT_EQ(in_cell(0, 0, kInk).count, 0);
  EXPECT_EQ(in_cell(9, 9, kWhite).count, 4 * (kDots1 + 2 * kDots0));
  EXPECT_EQ(in_cell(8, 8, kWhite).count, 4 * (kDots1 + 2 * kDots0));  // 99.7%
  const auto fifty = in_cell(3, 7, kInk);
  EXPECT_EQ(fifty.count, 4 * (kDots5 + kDots0));
  EXPECT_EQ(fifty.left - cell_left(7), 9);  // (40 - 22) / 2
  EXPECT_EQ(in_cell(3, 3, kInk).count, 4 * (kDots5 + kDots0));
  EXPECT_EQ(in_cell(3, 7, kWhite).count, 0);
  EXPECT_EQ(in_cell(5, 5, kWhite).count, 4 * (kDots6 + kDots7));  // 67
  EXPECT_EQ(in_cell(5, 3, kInk).count, 4 * (2 * kDots3));         // 33
  EXPECT_EQ(in_cell(8, 1, kInk).count, 4 * kDots0);               // 1 of 301: 0, dark
  EXPECT_EQ(in_cell(8, 1, kFaint).count, 0);
  const auto zero = in_cell(0, 1, kFaint);
  EXPECT_EQ(zero.count, 4 * kDots0);
  EXPECT_EQ(zero.left - cell_left(1), 15);  // (40 - 10) / 2
  EXPECT_EQ(in_cell(0, 1, kInk).count, 0);
}

TEST(ConfusionImage, DrawsAnyNumberOfClasses) {
  auto confusion = torch::zeros({3, 3}, torch::kInt64);
  confusion[0][0] = 4;
  confusion[1][0] = 1;
  confusion[1][1] = 3;  // row 2: none
  const auto image = confusion_image(confusion, {"ant", "bee", "cow"});
  // The legend (94 px) is wider than the names ("ant" 34 px) and higher than the column names:
  // the grid from (130, 6), 128 px; the column names from 86, "predicted" from 150.
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{174, 264, 3}));
  const int64_t left = 130, top = 6, names_top = 86;
  const auto x_of = [&](int64_t col) { return left + 2 + col * kPitchX; };
  const auto y_of = [&](int64_t row) { return top + 2 + row * kPitchY; };
  const auto cell = [&](int64_t row, int64_t col) {
    return colour_at(image, x_of(col) + 1, y_of(row) + 1);
  };
  EXPECT_EQ(cell(0, 0), kDarkest);
  EXPECT_EQ(cell(1, 0), (Colour{193, 203, 218}));  // a quarter
  EXPECT_EQ(cell(1, 1), (Colour{70, 100, 144}));   // three quarters
  EXPECT_EQ(cell(2, 2), kWhite);                   // an empty row
  EXPECT_EQ(cell(2, 0), kWhite);
  EXPECT_EQ(colour_at(image, left, top), kLines);
  EXPECT_EQ(colour_at(image, left + 3 * kPitchX + 1, top + 3 * kPitchY + 1), kLines);
  EXPECT_EQ(colour_at(image, left + 3 * kPitchX + 2, top + 3 * kPitchY + 2), kWhite);
  for (int64_t r = 0; r < 3; ++r) {
    const auto name = find(image, kInk, 24, y_of(r), left - 24, kCellH);
    EXPECT_EQ(name.left, left - 6 - 34) << r;
    EXPECT_EQ(name.right, left - 7) << r;
    const auto column = find(image, kInk, x_of(r), names_top, kCellW, 150 - names_top);
    EXPECT_EQ(column.left, x_of(r) + 13 + (r == 2 ? 4 : 0)) << r;  // "cow": from row 2
    EXPECT_EQ(column.top, names_top) << r;
    EXPECT_EQ(column.bottom, names_top + 33) << r;
    EXPECT_EQ(column.count, name.count) << r;
  }
  const auto in_cell = [&](int64_t row, int64_t col, Colour colour) {
    return find(image, colour, x_of(col), y_of(row), kCellW, kCellH);
  };
  EXPECT_EQ(in_cell(0, 0, kWhite).count, 4 * (kDots1 + 2 * kDots0));  // 100
  EXPECT_EQ(in_cell(1, 1, kWhite).count, 4 * (kDots7 + kDots5));      // 75
  EXPECT_EQ(in_cell(1, 0, kInk).count, 4 * (kDots2 + kDots5));        // 25
  EXPECT_EQ(in_cell(2, 2, kFaint).count, 4 * kDots0);                 // an empty row: 0
  EXPECT_EQ(in_cell(2, 0, kFaint).count, 4 * kDots0);
  EXPECT_EQ(in_cell(0, 1, kFaint).count, 4 * kDots0);
  // The legend's right label ends 6 px left of the grid.
  EXPECT_EQ(find(image, kInk, 24, 86 + 40, left - 24, 18).right, left - 7);
  // Rows beyond the names are named by their number.
  const auto numbered = confusion_image(confusion, {"ant", "bee"});
  ASSERT_EQ(numbered.sizes(), image.sizes());
  const auto two = find(numbered, kInk, 24, y_of(2), left - 24, kCellH);
  EXPECT_EQ(two.left, left - 6 - 10);
  EXPECT_EQ(two.count, 4 * kDots2);
  EXPECT_EQ(find(numbered, kInk, x_of(2), names_top, kCellW, 150 - names_top).count, 4 * kDots2);
}

}  // namespace
}  // namespace cifar_exp
