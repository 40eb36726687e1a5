// End-to-end tests of --set, --print-config (--keys) and --print-defaults through the cifar-exp
// binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "test_paths.h"
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

// The dotted paths of `doc`'s leaves (values that are not objects), as --print-config's JSON
// holds them.
void collect_paths(const json& doc, const std::string& prefix, std::set<std::string>& paths) {
  for (const auto& [key, value] : doc.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      collect_paths(value, path, paths);
    } else {
      paths.insert(path);
    }
  }
}

// The entry of `key` in --keys' output, or null.
json key_entry(const json& listed, const std::string& key) {
  for (const json& entry : listed["keys"])
    if (entry["key"] == key) return entry;
  return nullptr;
}

TEST(CliConfig, KeysListEveryKeyWithDefaultAndWhetherItApplies) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "k", "model": {"type": "small_cnn"},
    "training": {"early_stopping": {"patience": 3}}})");
  const std::vector<std::string> args = {"--config", dir / "c.json", "--set", "training.epochs=4",
                                         "--print-config"};
  auto with_keys = args;
  with_keys.push_back("--keys");
  const auto r = run_cli(with_keys);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json listed = json::parse(r.out);
  ASSERT_TRUE(listed["keys"].is_array()) << r.out;

  const json hidden = key_entry(listed, "model.hidden_units");
  ASSERT_FALSE(hidden.is_null()) << r.out;
  EXPECT_EQ(hidden["applies"], false);
  EXPECT_NE(hidden["why_not"].get<std::string>().find("model.type"), std::string::npos) << hidden;
  EXPECT_EQ(hidden["default"], 256);
  EXPECT_EQ(hidden["value"], 256);  // the default, what it stands for
  const json cval = key_entry(listed, "augmentation.cval");
  EXPECT_EQ(cval["default"], 0.0) << cval;
  EXPECT_EQ(cval["applies"], false);
  const json epochs = key_entry(listed, "training.epochs");
  EXPECT_EQ(epochs["value"], 4) << epochs;
  EXPECT_EQ(epochs["default"], 10);
  EXPECT_EQ(epochs["applies"], true);
  EXPECT_EQ(epochs["why_not"], "");
  EXPECT_EQ(key_entry(listed, "training.early_stopping.patience")["value"], 3);
  EXPECT_TRUE(key_entry(listed, "name")["default"].is_null());

  // Every key the resolved config holds is listed, and with the same value.
  const auto printed = run_cli(args);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const json config = json::parse(printed.out);
  std::set<std::string> paths;
  collect_paths(config, "", paths);
  for (const auto& path : paths) {
    const json entry = key_entry(listed, path);
    ASSERT_FALSE(entry.is_null()) << path << " is not listed by --keys";
    EXPECT_EQ(entry["applies"], true) << path;
    std::string pointer = "/" + path;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    EXPECT_EQ(entry["value"], config.at(json::json_pointer(pointer))) << path;
  }
}

// What the program makes of the keys, for the scripts that would otherwise copy its rules.
TEST(CliConfig, KeysSayWhatAutoPreprocessingAndTheAugmentationAmountTo) {
  testing::TempDir dir;
  const auto derived = [&](const std::string& config) {
    testing::write_text(dir / "c.json", config);
    const auto r = run_cli({"--config", dir / "c.json", "--print-config", "--keys"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["derived"];
  };
  const json small = derived(R"({"name": "k", "augmentation": {"enabled": true,
    "horizontal_flip": true}})");
  EXPECT_EQ(small["augmentation.any_geometric"], false) << small;
  EXPECT_FALSE(small.contains("model.preprocess")) << small;
  const json keras = derived(R"({"name": "k", "model": {"type": "vgg16_transfer",
    "weights": "random"}, "augmentation": {"enabled": true, "zoom_range": 0.1}})");
  EXPECT_EQ(keras["model.preprocess"], "caffe") << keras;
  EXPECT_EQ(keras["augmentation.any_geometric"], true) << keras;
  const json torchvision = derived(R"({"name": "k", "model": {"type": "vgg16_transfer",
    "weights": "w.pt", "weights_format": "torchvision"}})");
  EXPECT_EQ(torchvision["model.preprocess"], "imagenet") << torchvision;
  const json unit = derived(R"({"name": "k", "model": {"type": "vgg16_transfer",
    "weights": "w.pt", "preprocess": "unit"}})");
  EXPECT_EQ(unit["model.preprocess"], "unit") << unit;
}

TEST(CliConfig, KeysWithoutPrintConfigIsAUsageError) {
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "k"})");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--config", dir / "c.json", "--keys"},
        std::vector<std::string>{"train", "--config", dir / "c.json", "--keys"}}) {
    const auto r = run_cli(args);
    testing::expect_one_line_error(r, int(ExitCode::kUsage), "--keys needs --print-config",
                                   args[0]);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(CliConfig, PrintDefaultsDataDirIsWhatTrainUses) {
  const auto r = run_cli({"--print-defaults"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json defaults = json::parse(r.out);
  ASSERT_TRUE(defaults["data_dir"].is_string()) << r.out;
  EXPECT_EQ(defaults["notebook_configs"],
            json::array({"no_aug_no_tl", "aug_no_tl", "no_aug_tl", "aug_tl"}));
  // No --data-dir, no $CIFAR10_DIR, no data.dir: the folder train reads is the default.
  testing::TempDir dir;
  testing::write_text(dir / "c.json", R"({"name": "d"})");
  const auto printed = testing::run_program(
      {"env", "-u", "CIFAR10_DIR", CIFAR_EXP_BINARY, "--config", dir / "c.json", "--print-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(json::parse(printed.out)["data"]["dir"], defaults["data_dir"]);
  const auto one = run_cli({"--print-default", "data_dir"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, defaults["data_dir"].get<std::string>() + "\n");
}

TEST(CliConfig, PrintDefaultListsOneItemPerLineAndRefusesUnknownNames) {
  const auto r = run_cli({"--print-default", "notebook_configs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 4) << r.out;
  EXPECT_EQ(r.out, "no_aug_no_tl\naug_no_tl\nno_aug_tl\naug_tl\n");
  const auto bad = run_cli({"--print-default", "data_folder"});
  testing::expect_one_line_error(bad, int(ExitCode::kUsage), "data_folder", "unknown name");
  EXPECT_NE(bad.err.find("data_dir, notebook_configs"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty()) << bad.out;
}

// A name of any length is quoted short, and asking for both forms at once is refused.
TEST(CliConfig, PrintDefaultQuotesLongNamesShortAndExcludesPrintDefaults) {
  const auto huge = run_cli({"--print-default", std::string(5000, 'x')});
  testing::expect_one_line_error(huge, int(ExitCode::kUsage), "no default named \"xxx", "huge");
  EXPECT_LT(huge.err.size(), 200u) << huge.err;
  const auto both = run_cli({"--print-defaults", "--print-default", "data_dir"});
  testing::expect_one_line_error(both, int(ExitCode::kUsage), "--print-default", "both forms");
  EXPECT_TRUE(both.out.empty()) << both.out;
}

}  // namespace
}  // namespace cifar_exp
