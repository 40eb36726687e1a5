// Tests for data.h: the CIFAR-10 reader and its errors.
#include "cifar_exp/data/data.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

std::string data_error(const std::string& dir, Cifar10::Mode mode = Cifar10::Mode::kTrain) {
  try {
    Cifar10 data(dir, mode);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(Data, ReadsGeneratedFilesInOrder) {
  testing::TempDir dir;
  const auto written = testing::write_cifar10_folder(dir.path(), 50, 20);
  Cifar10 train(dir.path(), Cifar10::Mode::kTrain);
  EXPECT_EQ(train.images().sizes(), (std::vector<int64_t>{50, 3, 32, 32}));
  EXPECT_EQ(train.images().dtype(), torch::kUInt8);
  EXPECT_EQ(train.targets().dtype(), torch::kInt64);
  EXPECT_TRUE(torch::equal(train.images(), written.images));
  EXPECT_TRUE(torch::equal(train.targets(), written.labels));
  EXPECT_EQ(*train.size(), 50u);
  auto example = train.get(7);
  EXPECT_TRUE(torch::equal(example.data, written.images[7]));
  EXPECT_EQ(example.target.item<int64_t>(), written.labels[7].item<int64_t>());

  Cifar10 test(dir.path(), Cifar10::Mode::kTest);
  EXPECT_EQ(test.images().size(0), 20);
  EXPECT_EQ(test.class_names().at(9), "truck");
}

TEST(Data, RecordLayoutIsLabelThenRedGreenBluePlanes) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir.path(), 5, 5);
  // Overwrite the test file with one hand-made record.
  std::string record(kRecordBytes, '\0');
  record[0] = 4;
  record[1 + 0] = 11;                   // red, row 0, col 0
  record[1 + 1024 + 33] = 22;           // green, row 1, col 1
  record[1 + 2048 + 1023] = char(200);  // blue, row 31, col 31
  testing::write_text(dir / "test_batch.bin", record);
  Cifar10 test(dir.path(), Cifar10::Mode::kTest);
  ASSERT_EQ(test.images().size(0), 1);
  EXPECT_EQ(test.targets()[0].item<int64_t>(), 4);
  EXPECT_EQ(test.images()[0][0][0][0].item<int>(), 11);
  EXPECT_EQ(test.images()[0][1][1][1].item<int>(), 22);
  EXPECT_EQ(test.images()[0][2][31][31].item<int>(), 200);
  EXPECT_EQ(test.images().sum().item<int64_t>(), 11 + 22 + 200);
}

TEST(Data, LimitKeepsTheFirstRecordsAcrossFiles) {
  testing::TempDir dir;
  const auto written = testing::write_cifar10_folder(dir.path(), 50, 20);
  Cifar10 train(dir.path(), Cifar10::Mode::kTrain, 23);  // spans three files of 10
  EXPECT_EQ(train.images().size(0), 23);
  EXPECT_TRUE(torch::equal(train.targets(), written.labels.narrow(0, 0, 23)));
  Cifar10 all(dir.path(), Cifar10::Mode::kTrain, 1000);
  EXPECT_EQ(all.images().size(0), 50);
}

TEST(Data, TruncatedFileIsNamed) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir.path(), 50, 20);
  fs::resize_file(dir / "data_batch_3.bin", 10 * kRecordBytes - 100);
  EXPECT_EQ(data_error(dir.path()),
            dir /
                "data_batch_3.bin: size 30630 bytes is not a whole number of 3,073-byte "
                "records (truncated download?)");
}

TEST(Data, BadLabelNamesFileAndRecord) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir.path(), 5, 20);
  std::string bytes = testing::read_text(dir / "test_batch.bin");
  bytes[size_t(7 * kRecordBytes)] = 10;
  testing::write_text(dir / "test_batch.bin", bytes);
  EXPECT_EQ(data_error(dir.path(), Cifar10::Mode::kTest),
            dir / "test_batch.bin: record 7 has label 10, expected 0..9");
}

TEST(Data, MissingAndEmptyFiles) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir.path(), 50, 20);
  fs::remove(dir / "data_batch_5.bin");
  EXPECT_NE(data_error(dir.path()).find(dir / "data_batch_5.bin: file not found"),
            std::string::npos);
  testing::write_text(dir / "data_batch_5.bin", "");
  EXPECT_EQ(data_error(dir.path()), dir / "data_batch_5.bin: file is empty");
  EXPECT_NE(data_error(dir / "nowhere").find("scripts/download_cifar10.sh"), std::string::npos);
}

TEST(Data, CheckDataFilesCoversBothSplits) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir.path(), 50, 20);
  EXPECT_NO_THROW(check_data_files(dir.path()));
  fs::remove(dir / "test_batch.bin");
  EXPECT_THROW(check_data_files(dir.path()), DataError);
}

TEST(Data, DataDirSearchOrder) {
  unsetenv("CIFAR10_DIR");
  EXPECT_EQ(resolve_data_dir(std::nullopt, ""), "data/cifar-10-batches-bin");
  EXPECT_EQ(resolve_data_dir(std::nullopt, "/cfg"), "/cfg");
  setenv("CIFAR10_DIR", "/env", 1);
  EXPECT_EQ(resolve_data_dir(std::nullopt, "/cfg"), "/env");
  EXPECT_EQ(resolve_data_dir(std::string("/cli"), "/cfg"), "/cli");
  unsetenv("CIFAR10_DIR");
}

TEST(Data, FloatBatchIsScaledToUnitRange) {
  auto images = torch::tensor({0, 255, 51}, torch::kUInt8).view({3, 1, 1, 1});
  auto batch = to_float_batch(images, torch::tensor({2, 1}, torch::kInt64));
  EXPECT_EQ(batch.dtype(), torch::kFloat32);
  EXPECT_FLOAT_EQ(batch[0].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(batch[1].item<float>(), 1.0f);
}

}  // namespace
}  // namespace cifar_exp
