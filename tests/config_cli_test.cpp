// End-to-end tests of --set and --print-config through the cifar-exp binary.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cifar_exp/config.h"
#include "cifar_exp/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::run_cli;

TEST(CliConfig, HelpListsSetAndPrintConfig) {
  const auto help = run_cli({"--help"});
  EXPECT_NE(help.out.find("--set KEY=VALUE"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--print-config"), std::string::npos) << help.out;
  for (const char* command : {"bench", "preview-augmentation", "extract-features"}) {
    const auto sub = run_cli({command, "--help"});
    EXPECT_NE(sub.out.find("--set KEY=VALUE"), std::string::npos) << command << ": " << sub.out;
  }
}

TEST(CliConfig, PrintConfigShowsEveryKeyAndParsesBack) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "p", "training": {"epochs": 5},
    "augmentation": {"enabled": true, "rotation_range": 20, "fill_mode": "constant"}})");
  const std::vector<std::string> args = {"--config",
                                         dir / "c.json",
                                         "--set",
                                         "training.learning_rate=3e-4",
                                         "--set=augmentation.rotation_range=10",
                                         "--set",
                                         "augmentation.cval=-1",
                                         "--set",
                                         "model.type=small_cnn",
                                         "--set",
                                         "description=two words",
                                         "--batch-size",
                                         "32",
                                         "--data-dir",
                                         dir / "data",
                                         "--output-dir",
                                         dir / "runs"};
  auto with_print = args;
  with_print.push_back("--print-config");
  const auto r = run_cli(with_print);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const json printed = json::parse(r.out);

  // Parses back to the same config, and is what load_config gives for the same overrides.
  EXPECT_EQ(to_json(parse_config(printed, "printed")), printed);
  ConfigOverrides o;
  o.set = {"training.learning_rate=3e-4", "augmentation.rotation_range=10", "augmentation.cval=-1",
           "model.type=small_cnn", "description=two words"};
  o.batch_size = 32;
  o.output_dir = dir / "runs";
  auto expected = load_config(dir / "c.json", o);
  expected.data.dir = dir / "data";    // --data-dir, as config.json records it
  resolve_cache_dir(expected.output);  // "auto": beside the runs, as config.json records it
  EXPECT_EQ(printed, to_json(expected));

  EXPECT_DOUBLE_EQ(printed["training"]["learning_rate"].get<double>(), 3e-4);
  EXPECT_EQ(printed["training"]["epochs"], 5);  // the file's
  EXPECT_EQ(printed["training"]["batch_size"], 32);
  EXPECT_EQ(printed["training"]["eval_batch_size"], 1000);  // a default, filled in
  EXPECT_EQ(printed["augmentation"]["rotation_range"], 10);
  EXPECT_EQ(printed["augmentation"]["cval"], -1);
  EXPECT_EQ(printed["augmentation"]["enabled"], true);
  EXPECT_EQ(printed["description"], "two words");
  EXPECT_FALSE(fs::exists(dir / "runs")) << "--print-config must not start a run";
}

TEST(CliConfig, PrintConfigIsWhatTheRunRecords) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 40, 20);
  testing::write_text(dir / "c.json", R"({"name": "rec"})");
  const std::vector<std::string> args = {"--config",     dir / "c.json",
                                         "--set",        "training.epochs=1",
                                         "--set",        "data.train_limit=20",
                                         "--set",        "augmentation.enabled=true",
                                         "--set",        "augmentation.horizontal_flip=true",
                                         "--data-dir",   dir / "data",
                                         "--output-dir", dir / "runs",
                                         "--threads",    "1",
                                         "--device",     "cpu"};
  auto with_print = args;
  with_print.push_back("--print-config");
  const auto printed = run_cli(with_print);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const auto run = run_cli(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(dir / "runs")) {
    if (entry.path().filename().string().rfind("rec-", 0) == 0) folders.push_back(entry.path());
  }
  ASSERT_EQ(folders.size(), 1u);
  EXPECT_EQ(json::parse(testing::read_text((folders[0] / "config.json").string())),
            json::parse(printed.out));
  const json summary = json::parse(testing::read_text((folders[0] / "summary.json").string()));
  EXPECT_EQ(summary["train_images"], 20);
  EXPECT_EQ(summary["epochs"], 1);
}

TEST(CliConfig, EarlyStoppingBaselineIsSetAndPrinted) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "b"})");
  const std::vector<std::string> args = {"--config", dir / "c.json", "--output-dir", dir / "runs",
                                         "--print-config"};
  auto with_set = args;
  with_set.insert(with_set.end(), {"--set", "training.early_stopping.baseline=0.5"});
  auto r = run_cli(with_set);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json early_stopping = json::parse(r.out)["training"]["early_stopping"];
  EXPECT_EQ(early_stopping["baseline"], 0.5);
  EXPECT_EQ(early_stopping["monitor"], "val_loss");  // Keras' defaults for the rest
  EXPECT_EQ(early_stopping["patience"], 0);
  // Keras' baseline=None: null when early stopping is on without one.
  auto without = args;
  without.insert(without.end(), {"--set", "training.early_stopping={}"});
  r = run_cli(without);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  early_stopping = json::parse(r.out)["training"]["early_stopping"];
  ASSERT_TRUE(early_stopping.contains("baseline")) << early_stopping;
  EXPECT_TRUE(early_stopping["baseline"].is_null());
}

TEST(CliConfig, BadSetNamesTheFlagInOneLine) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "x"})");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--set", "training.epochs=\"ten\""},
       "--set training.epochs: must be a positive integer, got \"ten\""},
      {{"--set", "training.epochs=ten"}, "--set training.epochs: must be a positive integer"},
      {{"--set", "training.lr=0.1"}, "--set training.lr: unknown key"},
      {{"--set", "trainig.epochs=1"}, "--set trainig.epochs (trainig): unknown key"},
      {{"--set", "training.epochs"}, "--set training.epochs: expected KEY=VALUE"},
      {{"--set", "training.epochs=3", "--epochs", "4"},
       "--set training.epochs: conflicts with --epochs"},
      {{"--set"}, "--set"},
      {{"--set", "training.epsilon=1e-50"},
       "--set training.epsilon: must be a number in (0, 1] that float32 can hold, got 1e-50, "
       "which is 0 as a float32"},
      {{"--set", "training.early_stopping.baseline=1e39"},
       "--set training.early_stopping.baseline: must be a number or null that float32 can hold, "
       "got 1e+39, which is inf as a float32"},
  };
  for (const auto& [extra, message] : cases) {
    for (bool print : {false, true}) {
      std::vector<std::string> args = {"--config", dir / "c.json", "--output-dir", dir / "runs"};
      args.insert(args.end(), extra.begin(), extra.end());
      if (print) args.push_back("--print-config");
      const auto r = run_cli(args);
      EXPECT_EQ(r.exit_code, int(ExitCode::kUsage)) << extra[1 % extra.size()] << r.err;
      EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
      EXPECT_EQ(r.err.rfind("cifar-exp: error: ", 0), 0u) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_FALSE(fs::exists(dir / "runs"));
    }
  }
}

}  // namespace
}  // namespace cifar_exp
