// `cifar-exp sweep` against hostile input (issue 39): every refusal is one line on stderr with a
// documented exit code, comes before any run or folder exists, and leaves every folder as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::expect_one_line_error;
using testing::run_cli;

struct SweepFolder {
  testing::TempDir dir;
  SweepFolder() {
    testing::write_cifar10_folder(dir / "data", 60, 20);
    testing::write_text(dir / "a.json", R"({"name": "a", "training": {"epochs": 1,
        "batch_size": 20, "device": "cpu", "threads": 1}})");
    fs::create_directories(dir / "out");
  }
  // `cifar-exp sweep` with `extra`, and the folder's config, data and output folder unless
  // `extra` names its own.
  testing::CommandResult sweep(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"sweep"};
    for (const auto& [option, value] :
         std::vector<std::pair<std::string, std::string>>{{"--configs", dir / "a.json"},
                                                          {"--data-dir", dir / "data"},
                                                          {"--output-dir", dir / "out"}}) {
      if (std::find(extra.begin(), extra.end(), option) == extra.end()) {
        args.insert(args.end(), {option, value});
      }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  }
};

std::string values(int count) {
  std::string text;
  for (int i = 1; i <= count; ++i) text += (i > 1 ? "," : "") + std::to_string(i);
  return text;
}

TEST(SweepCli, RefusalsComeFirstAreOneLineAndLeaveNothing) {
  SweepFolder f;
  struct Case {
    std::string label;
    std::vector<std::string> extra;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a billion seeds", {"--seeds", "1000000000"}, "more than 10000 runs"},
      {"two grids of 10,000 values",
       {"--grid", "training.learning_rate=" + values(10000), "--grid",
        "training.batch_size=" + values(10000)},
       "x 10000 values of training.learning_rate x 10000 values of training.batch_size"},
      {"an empty --output-dir", {"--output-dir", ""}, "--output-dir: empty path"},
      {"an empty --configs", {"--configs", ""}, "--configs: empty list"},
      {"an empty item in --configs", {"--configs", "a,,b"}, "--configs a,,b: an empty item"},
      {"an unknown device", {"--devices", "tpu"}, "--devices tpu: must be auto, cpu, cuda"},
      {"an unknown device for one task", {"--devices", "tpu", "--task", "0"}, "--devices tpu"},
      {"the plan of an unknown device", {"--devices", "tpu", "--plan"}, "--devices tpu"},
  };
  const auto before = testing::snapshot(f.dir.path());
  for (const Case& c : cases) {
    expect_one_line_error(f.sweep(c.extra), 2, c.message, c.label);
    EXPECT_EQ(testing::snapshot(f.dir.path()), before) << c.label << ": changed something";
  }
}

// A value with a line break, quoted in the error, keeps the error one whole line.
TEST(SweepCli, AConfigNameWithALineBreakIsQuotedOnOneLine) {
  SweepFolder f;
  testing::write_text(f.dir / "nl.json", R"({"name": "ab\ncd"})");
  expect_one_line_error(f.sweep({"--plan", "--configs", f.dir / "nl.json"}), 2, "got \"ab\\ncd\"",
                        "line break in a name");
}

TEST(SweepCli, ASweepJsonThatIsDamagedOrNotOursIsRefusedAndKept) {
  SweepFolder f;
  const auto check = [&](const std::string& text, const std::string& label) {
    testing::write_text(f.dir / "out/sweep.json", text);
    const auto before = testing::snapshot(f.dir / "out");
    for (const auto& extra : std::vector<std::vector<std::string>>{{}, {"--plan", "--prepare"}}) {
      expect_one_line_error(f.sweep(extra), 2, "sweep.json: not a cifar-exp sweep record", label);
      EXPECT_EQ(testing::snapshot(f.dir / "out"), before) << label << ": changed the folder";
      EXPECT_FALSE(fs::exists(f.dir / "out/logs")) << label;
    }
  };
  check("{", "damaged");
  check(R"({"tool": "other", "runs": ["x"], "configurations": ["x"]})", "another tool's");
  check(R"({"runs": [1], "configurations": []})", "wrong types");
}

TEST(SweepCli, LogsThatIsAFileIsNamed) {
  SweepFolder f;
  testing::write_text(f.dir / "out/logs", "a file");
  expect_one_line_error(f.sweep({"--plan", "--prepare"}), 5, f.dir / "out/logs" + ": not a folder",
                        "logs is a file");
}

TEST(SweepCli, AFailedTaskPrintsItsRunsErrorLine) {
  SweepFolder f;
  const auto r = f.sweep({"--task", "0", "--data-dir", f.dir / "nowhere"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("a seed 1: FAILED (exit 3)"), std::string::npos) << r.out;
  expect_one_line_error(r, 3, "CIFAR-10 data folder not found", "failed task");
}

// A run refused once its model is built (a convolution path this CPU cannot take) leaves no
// output folder behind.
TEST(SweepCli, ARunRefusedForItsModelLeavesNoOutputFolder) {
  SweepFolder f;
  testing::write_text(f.dir / "tl.json", R"({"name": "tl", "model": {"type": "vgg16_transfer",
      "weights": "random", "convolution": "winograd_avx2"}, "training": {"epochs": 1,
      "device": "cpu", "threads": 1}})");
  ::setenv("CIFAR_EXP_MAX_CPU_ISA", "baseline", 1);
  const auto r = run_cli({"--config", f.dir / "tl.json", "--data-dir", f.dir / "data",
                          "--output-dir", f.dir / "new/runs"});
  ::unsetenv("CIFAR_EXP_MAX_CPU_ISA");
  expect_one_line_error(r, 2, "model.convolution: \"winograd_avx2\" is not available",
                        "unavailable convolution");
  EXPECT_FALSE(fs::exists(f.dir / "new")) << "left an output folder";
}

TEST(SweepCli, BenchLayersRefusesAPrecisionItWouldNotTime) {
  SweepFolder f;
  testing::write_text(f.dir / "tl.json", R"({"name": "tl", "model": {"type": "vgg16_transfer",
      "weights": "random"}, "training": {"device": "cpu", "threads": 1}})");
  expect_one_line_error(
      run_cli({"bench", "--config", f.dir / "tl.json", "--layers", "--precision", "bf16"}), 2,
      "--precision bf16: bench --layers times the backbone's fp32 convolution paths only",
      "bench --layers bf16");
}

}  // namespace
}  // namespace cifar_exp
