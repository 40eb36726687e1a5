// The run's TensorBoard log: its sub-runs with output.tensorboard true, none with false, and
// where they lie in the run folder. (Event files: tests/records/event_file_test.cpp; the
// confusion picture: tests/io/painting_test.cpp; tensorboard_check.py reads whole runs' logs
// with TensorBoard itself.)
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/training/tensorboard.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using testing::event_files;

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
