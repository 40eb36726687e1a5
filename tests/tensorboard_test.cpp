// TensorBoard event files: CRC-32C on the standard check vectors, the TFRecord frame, file
// names that sort after a folder's earlier files, reading back the last step (to the end of the
// readable prefix), a full disk, the confusion picture, and output.tensorboard false.
// (tensorboard_check.py reads whole runs' logs with TensorBoard itself.)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cifar_exp/errors.h"
#include "cifar_exp/run_folder.h"
#include "cifar_exp/tensorboard.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// The event files in `dir` (not its sub-folders), by name.
std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename();
    if (name.rfind("events.out.tfevents.", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Crc32c, MatchesTheStandardCheckVectors) {
  // RFC 3720 B.4 and the CRC catalogue's check value.
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(char(i));
    descending.push_back(char(31 - i));
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(""), 0u);
  // TFRecord's mask: rotate right by 15, add 0xa282ead8.
  const uint32_t crc = crc32c("123456789");
  EXPECT_EQ(masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
}

TEST(TfRecord, FramesLengthChecksumDataChecksum) {
  const std::string frame = tfrecord_frame("abc");
  ASSERT_EQ(frame.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(frame.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  const auto u32 = [&](size_t at) {
    return uint32_t(uint8_t(frame[at])) | uint32_t(uint8_t(frame[at + 1])) << 8 |
           uint32_t(uint8_t(frame[at + 2])) << 16 | uint32_t(uint8_t(frame[at + 3])) << 24;
  };
  EXPECT_EQ(u32(8), masked_crc32c(frame.substr(0, 8)));
  EXPECT_EQ(frame.substr(12, 3), "abc");
  EXPECT_EQ(u32(15), masked_crc32c("abc"));
}

TEST(EventFileWriter, NamesSortAfterEarlierFilesAndStepsReadBack) {
  testing::TempDir dir;
  const std::string logs = dir / "train";
  EXPECT_EQ(last_step(logs, "epoch_loss"), -1);  // no folder yet
  {
    EventFileWriter writer(logs);
    for (int step = 1; step <= 3; ++step) writer.add_scalar("epoch_loss", step, 1.0 / step);
    writer.add_scalar("batch_loss", 40, 0.5);
    writer.flush();
  }
  EXPECT_EQ(last_step(logs, "epoch_loss"), 3);
  EXPECT_EQ(last_step(logs, "batch_loss"), 40);
  EXPECT_EQ(last_step(logs, "epoch_accuracy"), -1);
  // A file from a clock far ahead: the next file still sorts after it.
  const std::string future = logs + "/events.out.tfevents.9999999990.elsewhere.1.0";
  fs::copy_file(EventFileWriter(logs).path(), future);
  EventFileWriter later(logs);
  later.add_scalar("epoch_loss", 4, 0.25);
  later.flush();
  const auto names = event_files(logs);
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(fs::path(later.path()).filename(), names.back());
  EXPECT_EQ(names.back().rfind("events.out.tfevents.9999999991.", 0), 0u) << names.back();
  EXPECT_EQ(last_step(logs, "epoch_loss"), 4);
}

// Resume reads the steps already logged: file by file, record by record, so that a huge file
// in the folder (garbage, or another tool's) costs no memory. The process's peak resident size
// (each test runs in a process of its own under ctest) must not grow by the file's size.
TEST(EventFileWriter, StepsAreReadWithBoundedMemoryWhateverTheFileSize) {
  testing::TempDir dir;
  const std::string logs = dir / "train";
  {
    EventFileWriter writer(logs);
    writer.add_scalar("epoch_loss", 7, 0.5);
    writer.flush();
  }
  // 1 GiB of zeros (sparse: no disk used), named like an event file: no valid record in it.
  const std::string garbage = logs + "/events.out.tfevents.1.elsewhere.1.0";
  { std::ofstream out(garbage, std::ios::binary); }
  fs::resize_file(garbage, int64_t(1) << 30);
  // A record header that declares a 1 TiB record, with a valid length checksum.
  std::string huge = std::string("\0\0\0\0\0\x01\0\0", 8);
  const uint32_t crc = masked_crc32c(huge);
  for (int i = 0; i < 4; ++i) huge += char((crc >> (8 * i)) & 0xff);
  testing::write_text(logs + "/events.out.tfevents.2.elsewhere.1.0", huge + "tail");
  struct rusage before {
  }, after{};
  getrusage(RUSAGE_SELF, &before);
  EXPECT_EQ(last_step(logs, "epoch_loss"), 7);
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 100 * 1024) << "KiB of peak memory gained";
}

TEST(EventFileWriter, ACrashLeavesAReadablePrefix) {
  testing::TempDir dir;
  std::string path;
  {
    EventFileWriter writer(dir.path());
    writer.add_scalar("epoch_loss", 1, 0.9);
    writer.flush();
    writer.add_scalar("epoch_loss", 2, 0.8);
    writer.flush();
    path = writer.path();
  }
  // As if the process had died inside the last record's write.
  const std::string bytes = testing::read_text(path);
  for (size_t cut : {bytes.size() - 1, bytes.size() - 5, bytes.size() - 20}) {
    testing::write_text(path, bytes.substr(0, cut));
    EXPECT_EQ(last_step(dir.path(), "epoch_loss"), 1) << cut;
  }
  // A flipped byte in the last record's data: that record is not read.
  std::string damaged = bytes;
  damaged[damaged.size() - 6] ^= 0x20;
  testing::write_text(path, damaged);
  EXPECT_EQ(last_step(dir.path(), "epoch_loss"), 1);
}

TEST(EventFileWriter, AFullDiskIsAnOutputErrorNamingTheFile) {
  testing::TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // a child whose files may not grow past 2 kB, as on a full disk
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit {
      2048, 2048
    };
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string message = "no error";
    try {
      EventFileWriter writer(dir / "logs");
      for (int step = 0; step < 1000; ++step) writer.add_scalar("batch_loss", step, 0.5);
      writer.flush();
    } catch (const OutputError& e) {
      message = e.what();
    }
    (void)!write(pipe_fds[1], message.data(), message.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, size_t(n));
  close(pipe_fds[0]);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(message.rfind(dir / "logs/events.out.tfevents.", 0), 0u) << message;
  EXPECT_NE(message.find(": cannot write file: File too large"), std::string::npos) << message;
}

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

// The CIFAR-10 picture's layout (src/tensorboard.cpp): a 10 px border; the turned title "true"
// (18 px) and the row names (right-aligned, "automobile" 59 px) 5 px apart left of the grid;
// 32 px cells between 1 px grid lines; the colour bar 12 px right of the grid (14 px, its marks 5
// px right of it); the column names 5 px below the grid, then "predicted".
constexpr int64_t kGridLeft = 97, kGridTop = 10, kCell = 32, kPitch = 33, kGrid = 331;
constexpr int64_t kBarLeft = 440, kMarksLeft = 459, kNamesTop = 346, kTitleTop = 415;

torch::Tensor cifar10_picture() {
  auto confusion = torch::zeros({10, 10}, torch::kInt64);
  for (int c = 0; c < 10; ++c) confusion[c][c] = 5;
  confusion[3][3] = 2;
  confusion[3][7] = 2;  // row 3: half right, half class 7
  return confusion_image(confusion, kCifar10);
}

TEST(ConfusionImage, ShadesEachCellByItsShareOfTheRow) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{438, 492, 3}));
  ASSERT_EQ(image.scalar_type(), torch::kUInt8);
  const auto cell = [&](int64_t row, int64_t col) {  // a cell's top left corner, clear of text
    return colour_at(image, kGridLeft + 1 + col * kPitch + 2, kGridTop + 1 + row * kPitch + 2);
  };
  EXPECT_EQ(cell(0, 0), kDarkest);  // the whole row
  EXPECT_EQ(cell(9, 9), kDarkest);
  EXPECT_EQ(cell(0, 1), kWhite);                   // none of it
  EXPECT_EQ(cell(3, 7), (Colour{132, 152, 181}));  // half
  EXPECT_EQ(cell(3, 3), cell(3, 7));
  EXPECT_EQ(cell(3, 4), kWhite);
  // Each cell fills its square, the grid lines between them.
  EXPECT_EQ(find(image, kDarkest, kGridLeft + 1, kGridTop + 1, kCell, 4).count, kCell * 4);
  EXPECT_EQ(colour_at(image, kGridLeft, kGridTop), kLines);
  EXPECT_EQ(colour_at(image, kGridLeft + kPitch, kGridTop + 5), kLines);
  EXPECT_EQ(colour_at(image, kGridLeft + kGrid - 1, kGridTop + kGrid - 1), kLines);
  EXPECT_EQ(colour_at(image, kGridLeft + kGrid, kGridTop + kGrid), kWhite);
  // The colour bar runs from the darkest cell's colour (100% of the row) down to white (0%),
  // growing lighter all the way.
  EXPECT_EQ(colour_at(image, kBarLeft + 7, kGridTop + 1), kDarkest);
  EXPECT_EQ(colour_at(image, kBarLeft + 7, kGridTop + kGrid - 2), kWhite);
  EXPECT_EQ(colour_at(image, kBarLeft + 7, kGridTop + kGrid / 2)[0], 132);
  for (int64_t y = kGridTop + 2; y < kGridTop + kGrid - 1; ++y) {
    ASSERT_GE(colour_at(image, kBarLeft + 7, y)[0], colour_at(image, kBarLeft + 7, y - 1)[0]) << y;
  }
  // Nothing on the picture is bluer than the whole row's colour.
  EXPECT_EQ(torch::sub(image.select(2, 2).to(torch::kInt64), image.select(2, 0).to(torch::kInt64))
                .max()
                .item<int64_t>(),
            107 - 8);
}

TEST(ConfusionImage, NamesTheAxesAndCountsEachCell) {
  const auto image = cifar10_picture();
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{438, 492, 3}));
  // The row names, right-aligned 5 px left of the grid, one in each row's band: "automobile"
  // (59 px) begins further left than "cat" (17 px), and each ends at the same column.
  for (int64_t r = 0; r < 10; ++r) {
    const auto name = find(image, kInk, 30, kGridTop + 1 + r * kPitch, kGridLeft - 30, kCell);
    EXPECT_GT(name.count, 10) << kCifar10[size_t(r)];
    EXPECT_LE(name.right, kGridLeft - 6) << kCifar10[size_t(r)];  // 'k' ends a column short
    EXPECT_GE(name.right, kGridLeft - 7) << kCifar10[size_t(r)];
    EXPECT_GE(name.left, 33) << kCifar10[size_t(r)];  // no longer than "automobile"
  }
  EXPECT_EQ(find(image, kInk, 30, kGridTop + 1 + 1 * kPitch, kGridLeft - 30, kCell).left, 33);
  EXPECT_EQ(find(image, kInk, 30, kGridTop + 1 + 3 * kPitch, kGridLeft - 30, kCell).left, 75);
  // The column names, turned, below the grid, each ending 5 px below it.
  for (int64_t c = 0; c < 10; ++c) {
    const auto name =
        find(image, kInk, kGridLeft + 1 + c * kPitch, kNamesTop, kCell, kTitleTop - kNamesTop);
    EXPECT_GT(name.count, 10) << kCifar10[size_t(c)];
    EXPECT_GE(name.top, kNamesTop) << kCifar10[size_t(c)];
    EXPECT_LE(name.top, kNamesTop + 1) << kCifar10[size_t(c)];
  }
  EXPECT_EQ(
      find(image, kInk, kGridLeft + 1 + kPitch, kNamesTop, kCell, kTitleTop - kNamesTop).bottom,
      404);
  EXPECT_EQ(
      find(image, kInk, kGridLeft + 1 + 3 * kPitch, kNamesTop, kCell, kTitleTop - kNamesTop).bottom,
      362);
  // The axis titles: "true" turned in the left border, "predicted" below the column names.
  const auto true_title = find(image, kInk, 0, kGridTop, 30, kGrid);
  EXPECT_GT(true_title.count, 60);
  EXPECT_GE(true_title.left, 10);
  EXPECT_LT(true_title.right, 30);
  const auto predicted = find(image, kInk, 0, kTitleTop, 492, 438 - kTitleTop);
  EXPECT_GT(predicted.count, 150);
  EXPECT_GT(predicted.left, kGridLeft);
  EXPECT_LT(predicted.right, kGridLeft + kGrid);
  // The colour bar's marks and end labels: "100%" at the top, "0%" at the bottom.
  const auto top_mark = find(image, kInk, kBarLeft + 14, kGridTop - 5, 40, 14);
  const auto bottom_mark = find(image, kInk, kBarLeft + 14, kGridTop + kGrid - 10, 40, 14);
  EXPECT_GT(top_mark.count, bottom_mark.count);
  EXPECT_GT(bottom_mark.count, 20);
  EXPECT_EQ(top_mark.right, kMarksLeft + 22);     // 4 glyphs
  EXPECT_EQ(bottom_mark.right, kMarksLeft + 10);  // 2 glyphs
  // Each cell's count, in a colour that stands out from the cell: white on the dark diagonal
  // ('5': 17 pixels of the font), dark on the mid cells ('2': 14), grey for 0, centred.
  const auto in_cell = [&](int64_t row, int64_t col, Colour colour) {
    return find(image, colour, kGridLeft + 1 + col * kPitch, kGridTop + 1 + row * kPitch, kCell,
                kCell);
  };
  const auto five = in_cell(0, 0, kWhite);
  EXPECT_EQ(five.count, 17);
  EXPECT_EQ(five.left - (kGridLeft + 1), 13);  // (32 - 5) / 2
  EXPECT_EQ(five.top - (kGridTop + 1), 12);    // (32 - 7) / 2
  EXPECT_EQ(in_cell(0, 0, kInk).count, 0);
  EXPECT_EQ(in_cell(9, 9, kWhite).count, 17);
  EXPECT_EQ(in_cell(3, 7, kInk).count, 14);
  EXPECT_EQ(in_cell(3, 3, kInk).count, 14);
  EXPECT_EQ(in_cell(3, 7, kWhite).count, 0);
  EXPECT_EQ(in_cell(0, 1, kFaint).count, 16);  // '0'
  EXPECT_EQ(in_cell(0, 1, kInk).count, 0);
}

TEST(ConfusionImage, DrawsAnyNumberOfClasses) {
  auto confusion = torch::zeros({3, 3}, torch::kInt64);
  confusion[0][0] = 4;
  confusion[1][0] = 1;
  confusion[1][1] = 3;  // row 2: none
  const auto image = confusion_image(confusion, {"ant", "bee", "cow"});
  // 48 px cells, "ant" 17 px: the grid from (55, 10), 148 px.
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{213, 267, 3}));
  const int64_t left = 55, top = 10, pitch = 49;
  const auto cell = [&](int64_t row, int64_t col) {
    return colour_at(image, left + 1 + col * pitch + 2, top + 1 + row * pitch + 2);
  };
  EXPECT_EQ(cell(0, 0), kDarkest);
  EXPECT_EQ(cell(1, 0), (Colour{193, 203, 218}));  // a quarter
  EXPECT_EQ(cell(1, 1), (Colour{70, 100, 144}));   // three quarters
  EXPECT_EQ(cell(2, 2), kWhite);                   // an empty row
  EXPECT_EQ(colour_at(image, left, top), kLines);
  EXPECT_EQ(colour_at(image, left + 3 * pitch, top + 3 * pitch), kLines);
  for (int64_t r = 0; r < 3; ++r) {
    const auto name = find(image, kInk, 30, top + 1 + r * pitch, left - 30, 48);
    EXPECT_EQ(name.left, left - 5 - 17) << r;
    EXPECT_EQ(name.right, left - 6) << r;
  }
  EXPECT_EQ(find(image, kWhite, left + 1 + pitch, top + 1 + pitch, 48, 48).count, 14);  // '3'
  // Rows beyond the names are named by their number.
  const auto numbered = confusion_image(confusion, {"ant", "bee"});
  ASSERT_EQ(numbered.sizes(), image.sizes());
  const auto two = find(numbered, kInk, 30, top + 1 + 2 * pitch, left - 30, 48);
  EXPECT_EQ(two.left, left - 5 - 5);
  EXPECT_EQ(two.count, 14);  // '2'
}

TEST(TensorBoardRuns, OffWritesNoLogAndOnWritesTheSubRuns) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 128, 64);
  testing::write_text(dir / "c.json", R"({"name": "c", "training": {"epochs": 1, "threads": 1,
    "device": "cpu", "batch_size": 32}})");
  for (const bool on : {false, true}) {
    const std::string out = dir / (on ? "on" : "off");
    auto r = testing::run_cli({"--config", dir / "c.json", "--data-dir", dir / "data",
                               "--output-dir", out, "--set",
                               std::string("output.tensorboard=") + (on ? "true" : "false")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The sub-runs and the run's own events are the run folder's (no tensorboard/ level).
    const std::string logs = testing::run_folders(out).at(0);
    EXPECT_FALSE(fs::exists(logs + "/tensorboard"));
    EXPECT_EQ(event_files(logs).size(), on ? 1u : 0u);
    for (const char* sub : {"train", "validation", "test"})
      EXPECT_EQ(fs::exists(logs + "/" + sub), on);
    EXPECT_NE(logs.find("/c-seed42-"), std::string::npos) << logs;  // the seed in the run's name
    if (on) {
      for (const char* sub : {"train", "validation", "test"}) {
        EXPECT_EQ(event_files(logs + "/" + sub).size(), 1u) << sub;
      }
      EXPECT_EQ(last_step(logs + "/train", "epoch_loss"), 1);
      EXPECT_EQ(last_step(logs + "/test", "epoch_accuracy"), 1);
    }
  }
  auto r = testing::run_cli({"--config", dir / "c.json", "--set", "output.tensorboard=false",
                             "--set", "output.tensorboard_batch_interval=5", "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // a config error
  EXPECT_NE(r.err.find("output.tensorboard_batch_interval: only applies when output.tensorboard "
                       "is true"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace cifar_exp

namespace cifar_exp {
namespace {

// A run's TensorBoard sub-runs are folders of the run folder itself; a run made by an earlier
// version goes on writing into its tensorboard/ folder (one run, one set of names in TensorBoard).
TEST(TensorBoardLayout, TheRunFolderOrAnEarlierRunsTensorboardFolder) {
  testing::TempDir dir;
  EXPECT_EQ(RunFolder(dir.path()).tensorboard(), dir.path());
  std::filesystem::create_directory(dir / "tensorboard");
  EXPECT_EQ(RunFolder(dir.path()).tensorboard(), dir / "tensorboard");
}

}  // namespace
}  // namespace cifar_exp
