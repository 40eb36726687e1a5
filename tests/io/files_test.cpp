// Fault-tolerant files: failed writes leave the old file and nothing else, checksums catch
// corruption, locks exclude, liveness sees through dead processes.
#include "cifar_exp/io/files.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Limits the size of files this process writes (RLIMIT_FSIZE) within a scope, with SIGXFSZ
// ignored so that an over-long write fails with EFBIG instead of killing the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

TEST(Files, AtomicWriteReplacesAndLeavesNothingElse) {
  testing::TempDir dir;
  write_file_atomic(dir / "a.txt", "first");
  write_file_atomic(dir / "a.txt", "second");
  EXPECT_EQ(testing::read_text(dir / "a.txt"), "second");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.txt"});
}

TEST(Files, NewFilesNeverReplaceOneAnotherEvenWhenWrittenConcurrently) {
  testing::TempDir dir;
  std::vector<std::string> paths(8);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < paths.size(); ++i) {
    writers.emplace_back(
        [&, i] { paths[i] = write_new_file(dir / "evaluation-x", ".json", std::to_string(i)); });
  }
  for (auto& w : writers) w.join();
  std::set<std::string> distinct(paths.begin(), paths.end());
  EXPECT_EQ(distinct.size(), paths.size());
  EXPECT_EQ(names_in(dir.path()).size(), paths.size());  // no temporary left
  EXPECT_TRUE(distinct.count(dir / "evaluation-x.json"));
  EXPECT_TRUE(distinct.count(dir / "evaluation-x-8.json"));
  for (size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(read_file(paths[i]), std::to_string(i));
}

TEST(Files, FullFileSystemKeepsThePreviousFileAndNamesTheReason) {
  testing::TempDir dir;
  write_file_atomic(dir / "metrics.csv", "epoch 1\n");
  const std::string big(64 * 1024, 'x');
  {
    FileSizeLimit limit(16 * 1024);
    try {
      write_file_atomic(dir / "metrics.csv", big);
      FAIL() << "no error";
    } catch (const OutputError& e) {
      EXPECT_EQ(std::string(e.what()), dir / "metrics.csv" + ": cannot write file: File too large");
    }
    try {
      write_checked_file(dir / "checkpoint.pt", big, /*keep_previous=*/true);
      FAIL() << "no error";
    } catch (const OutputError& e) {
      EXPECT_NE(std::string(e.what()).find("checkpoint.pt: cannot write file: File too large"),
                std::string::npos);
    }
  }
  EXPECT_EQ(testing::read_text(dir / "metrics.csv"), "epoch 1\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"metrics.csv"});
}

TEST(Files, FullCheckpointWriteKeepsTheCurrentCheckpointInPlace) {
  testing::TempDir dir;
  write_checked_file(dir / "c.pt", std::string(1000, 'a'), true);
  {
    FileSizeLimit limit(4096);
    EXPECT_THROW(write_checked_file(dir / "c.pt", std::string(10000, 'b'), true), OutputError);
  }
  const CheckedFile kept = read_checked_file(dir / "c.pt");
  EXPECT_EQ(kept.integrity, Integrity::kIntact);
  EXPECT_EQ(kept.content, std::string(1000, 'a'));
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"c.pt", "c.pt.crc32"}));
}

TEST(Files, SmallTmpfsGivesNoSpaceLeft) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: mounting a tmpfs needs root";
  testing::TempDir dir;
  const std::string mount_point = dir / "small";
  fs::create_directories(mount_point);
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "SKIP: cannot mount a tmpfs here: " << std::strerror(errno);
  }
  write_file_atomic(mount_point + "/summary.json", "{}");
  try {
    write_file_atomic(mount_point + "/summary.json", std::string(256 * 1024, 'x'));
    ADD_FAILURE() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()),
              mount_point + "/summary.json: cannot write file: No space left on device");
  }
  EXPECT_EQ(testing::read_text(mount_point + "/summary.json"), "{}");
  EXPECT_EQ(names_in(mount_point), std::vector<std::string>{"summary.json"});
  umount(mount_point.c_str());
}

TEST(Files, ChecksumCatchesFlippedBytesAndTruncationAnywhere) {
  testing::TempDir dir;
  std::string content(100000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char(i * 7919 % 251);
  write_checked_file(dir / "f.pt", content);
  EXPECT_EQ(read_checked_file(dir / "f.pt").integrity, Integrity::kIntact);
  for (size_t offset : {size_t(0), size_t(1), size_t(4096), size_t(50000), content.size() - 1}) {
    std::string flipped = content;
    flipped[offset] = char(flipped[offset] ^ 0x10);
    testing::write_text(dir / "f.pt", flipped);
    const CheckedFile file = read_checked_file(dir / "f.pt");
    EXPECT_EQ(file.integrity, Integrity::kCorrupted) << "offset " << offset;
    EXPECT_NE(file.problem.find("checksum mismatch"), std::string::npos) << file.problem;
  }
  for (size_t length : {size_t(0), size_t(10), size_t(99999)}) {
    testing::write_text(dir / "f.pt", content.substr(0, length));
    const CheckedFile file = read_checked_file(dir / "f.pt");
    EXPECT_EQ(file.integrity, Integrity::kCorrupted) << "length " << length;
    EXPECT_NE(file.problem.find("truncated"), std::string::npos) << file.problem;
  }
  fs::remove(dir / "f.pt.crc32");
  EXPECT_EQ(read_checked_file(dir / "f.pt").integrity, Integrity::kUnchecked);
}

TEST(Files, KeepPreviousKeepsTheReplacedCopyWithItsChecksum) {
  testing::TempDir dir;
  write_checked_file(dir / "checkpoint.pt", "one", true);
  write_checked_file(dir / "checkpoint.pt", "two", true);
  EXPECT_EQ(previous_path(dir / "checkpoint.pt"), dir / "checkpoint.prev.pt");
  const CheckedFile previous = read_checked_file(dir / "checkpoint.prev.pt");
  EXPECT_EQ(previous.integrity, Integrity::kIntact);
  EXPECT_EQ(previous.content, "one");
  EXPECT_EQ(read_checked_file(dir / "checkpoint.pt").content, "two");
}

TEST(Files, LockExcludesOthersUntilReleased) {
  testing::TempDir dir;
  const std::string path = dir / "locks/run.lock";
  {
    auto first = FileLock::try_acquire(path);
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(FileLock::try_acquire(path).has_value());  // another open file description
    // And another process.
    const pid_t child = fork();
    if (child == 0) _exit(FileLock::try_acquire(path).has_value() ? 1 : 0);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_TRUE(FileLock::try_acquire(path).has_value());
}

TEST(Files, LivenessSeesThroughDeadProcesses) {
  const ProcessIdentity me = ProcessIdentity::current();
  EXPECT_GT(me.pid, 0);
  EXPECT_GT(me.start_ticks, 0);
  EXPECT_EQ(process_alive(me), std::optional<bool>(true));
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  ProcessIdentity dead = me;
  dead.pid = child;
  EXPECT_EQ(process_alive(dead), std::optional<bool>(false));
  ProcessIdentity reused = me;  // this pid, but started at another moment: not the same process
  reused.start_ticks = me.start_ticks + 1;
  EXPECT_EQ(process_alive(reused), std::optional<bool>(false));
  ProcessIdentity elsewhere = me;
  elsewhere.host = "another-host";
  EXPECT_EQ(process_alive(elsewhere), std::nullopt);
}

}  // namespace
}  // namespace cifar_exp
