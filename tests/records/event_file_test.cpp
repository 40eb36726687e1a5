// TensorBoard event files: CRC-32C on the standard check vectors, the TFRecord frame, file
// names that sort after a folder's earlier files, reading back the last step (to the end of the
// readable prefix, in bounded memory) and a full disk. (tensorboard_check.py reads whole runs'
// logs with TensorBoard itself.)
#include "cifar_exp/records/event_file.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using testing::event_files;

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

}  // namespace
}  // namespace cifar_exp
