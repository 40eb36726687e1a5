// How `compare` pools runs and `sweep` reuses them (issue 38): by what a run computed (its
// identity and fingerprint, run_identity.h), each seed once; and what says that the test split
// chose the model. End-to-end through the binary, with tiny runs.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cifar_exp/records/run_identity.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

using testing::run_cli;
using testing::run_folders;

// A tiny small-CNN config named `name` with `training` keys merged into the usual ones.
void write_config(const testing::TempDir& dir, const std::string& file, const std::string& name,
                  const json& training = json::object()) {
  json config = {
      {"name", name},
      {"training", {{"epochs", 1}, {"batch_size", 50}, {"device", "cpu"}, {"threads", 1}}}};
  config["training"].update(training);
  testing::write_text(dir / file, config.dump(2));
}

testing::CommandResult train(const testing::TempDir& dir, const std::string& file,
                             std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--config",   dir / file,     "--data-dir",
                                   dir / "data", "--output-dir", dir / "runs"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

json compare_json(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"compare"};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--format", "json"});
  const auto r = run_cli(all);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json::array();
}

const json* row_labelled(const json& rows, const std::string& label) {
  for (const auto& row : rows)
    if (row["label"] == label) return &row;
  return nullptr;
}

TEST(Pooling, IdenticalRerunsCountOnceAndGiveNoPValue) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  write_config(dir, "a.json", "a");
  write_config(dir, "b.json", "b", {{"learning_rate", 0.01}});
  for (const char* file : {"a.json", "a.json", "b.json", "b.json"}) {
    ASSERT_EQ(train(dir, file).exit_code, 0) << file;
  }
  const json rows = compare_json({dir / "runs", "--baseline", "a"});
  ASSERT_EQ(rows.size(), 2u) << rows;
  for (const auto& row : rows) {
    EXPECT_EQ(row["runs"], 1) << row;  // two copies of one run are one sample
    EXPECT_EQ(row["test_accuracy"]["n"], 1) << row;
    EXPECT_EQ(row["distinct_seeds"], json::array({42})) << row;
    ASSERT_EQ(row["duplicates"].size(), 1u) << row;
    EXPECT_EQ(row["duplicates"][0]["seed"], 42);
    EXPECT_NE(row["notes"].get<std::string>().find("1 duplicate run(s) of a counted seed left out"),
              std::string::npos)
        << row;
    EXPECT_TRUE(row["fingerprint"].is_string()) << row;
  }
  const json& b = rows[1];
  ASSERT_EQ(b["configuration"], "b");
  EXPECT_TRUE(b["vs_baseline"]["p_value"].is_null()) << b;
  EXPECT_TRUE(b["vs_baseline"]["ci95"].is_null()) << b;
  EXPECT_EQ(b["vs_baseline"]["note"],
            "no interval: 1 seed(s) here, 1 in the baseline (needs 2+ distinct seeds on each "
            "side)");
  const auto table = run_cli({"compare", dir / "runs", "--baseline", "a", "--columns", "all"});
  EXPECT_EQ(table.out.find("p < 0.001"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("no interval: 1 seed(s) here"), std::string::npos) << table.out;
  // The default table says it shorter, and why underneath.
  const auto compact = run_cli({"compare", dir / "runs", "--baseline", "a"});
  EXPECT_NE(compact.out.find("(1 vs 1 seeds)"), std::string::npos) << compact.out;
  EXPECT_NE(compact.out.find("need 2+ distinct seeds on each side"), std::string::npos)
      << compact.out;
}

TEST(Pooling, OneNameWithOtherSettingsGivesRowsLabelledByWhatDiffers) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  write_config(dir, "a.json", "a");
  ASSERT_EQ(train(dir, "a.json").exit_code, 0);
  ASSERT_EQ(train(dir, "a.json", {"--epochs", "2"}).exit_code, 0);
  const json rows = compare_json({dir / "runs"});
  ASSERT_EQ(rows.size(), 2u) << rows;
  const json* one = row_labelled(rows, "a [training.epochs=1]");
  const json* two = row_labelled(rows, "a [training.epochs=2]");
  ASSERT_TRUE(one && two) << rows;
  EXPECT_EQ((*one)["runs"], 1);
  EXPECT_EQ((*two)["runs"], 1);
  EXPECT_EQ((*two)["epochs"], 2);
  EXPECT_NE((*one)["settings_fingerprint"], (*two)["settings_fingerprint"]);
  // Each summary.json records its fingerprint, and compare --runs shows the same.
  const json listed =
      json::parse(run_cli({"compare", dir / "runs", "--runs", "--format", "json"}).out);
  ASSERT_EQ(listed.size(), 2u);
  for (const auto& run : listed) {
    ASSERT_TRUE(run["fingerprint"].is_string()) << run;
    EXPECT_EQ(run["fingerprint"].get<std::string>().size(), 16u);
    EXPECT_EQ(run["summary"]["fingerprint"], run["fingerprint"]) << run;
  }
  EXPECT_NE(listed[0]["fingerprint"], listed[1]["fingerprint"]);
  const auto markdown = run_cli({"compare", dir / "runs", "--runs"});
  EXPECT_NE(markdown.out.find("| fingerprint |"), std::string::npos) << markdown.out;
  EXPECT_NE(markdown.out.find(listed[0]["fingerprint"].get<std::string>()), std::string::npos);
}

TEST(Pooling, FingerprintLeavesOutWhatCannotChangeResults) {
  ExperimentConfig a;
  a.name = "a";
  ExperimentConfig b = a;
  b.name = "other";
  b.training.threads = 3;
  b.training.device = "cuda";
  b.training.seed = 7;
  b.output.dir = "elsewhere";
  const json data = {{"test_batch.bin", {{"size", 3073}, {"crc32", "01234567"}}}};
  EXPECT_EQ(RunIdentity::of(a, data).fingerprint, RunIdentity::of(b, data).fingerprint);
  b.training.learning_rate = 0.001000001;
  EXPECT_NE(RunIdentity::of(a, data).settings_fingerprint,
            RunIdentity::of(b, data).settings_fingerprint);
  EXPECT_EQ(identity_differences(RunIdentity::of(a, data), RunIdentity::of(b, data)),
            std::vector<std::string>{"training.learning_rate"});
  // Other data files: the same settings, another fingerprint.
  const json other = {{"test_batch.bin", {{"size", 3073}, {"crc32", "89abcdef"}}}};
  EXPECT_EQ(RunIdentity::of(a, data).settings_fingerprint,
            RunIdentity::of(a, other).settings_fingerprint);
  EXPECT_NE(RunIdentity::of(a, data).fingerprint, RunIdentity::of(a, other).fingerprint);
  EXPECT_EQ(identity_differences(RunIdentity::of(a, data), RunIdentity::of(a, other)),
            std::vector<std::string>{"data files"});
}

TEST(Pooling, SweepRefusesRunsWithChangedSettingsBeforeStartingAny) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  write_config(dir, "a.json", "a");
  const std::vector<std::string> sweep = {"sweep",      "--configs",  dir / "a.json",
                                          "--data-dir", dir / "data", "--output-dir",
                                          dir / "out"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = sweep;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  ASSERT_EQ(with({"--seeds", "2"}).exit_code, 0);
  const json listed =
      json::parse(run_cli({"compare", dir / "out", "--runs", "--format", "json"}).out);
  ASSERT_EQ(listed.size(), 2u);
  // The plan knows each task's fingerprint before it runs: the one its run recorded.
  const auto planned = with({"--plan", "--seeds", "2"});
  ASSERT_EQ(planned.exit_code, 0) << planned.err;
  const json tasks = json::parse(planned.out)["tasks"];
  EXPECT_EQ(tasks[0]["status"], "completed");
  EXPECT_EQ(tasks[0]["fingerprint"], listed[0]["fingerprint"]) << tasks << listed;
  const auto before = testing::snapshot(dir / "out");
  // Changed settings: refused before any run starts, naming the runs and the keys.
  const auto changed =
      with({"--seeds", "2", "--epochs", "2", "--set", "training.lr_schedule=cosine"});
  testing::expect_one_line_error(changed, 2,
                                 "2 run(s) there have a task's name and seed but other settings",
                                 "changed settings");
  EXPECT_NE(changed.err.find("training.epochs: 1 there, 2 now"), std::string::npos) << changed.err;
  EXPECT_NE(changed.err.find("training.lr_schedule: constant there, cosine now"), std::string::npos)
      << changed.err;
  EXPECT_NE(changed.err.find("--beside-changed"), std::string::npos) << changed.err;
  EXPECT_EQ(testing::snapshot(dir / "out"), before);
  // The same with --plan: refused too.
  testing::expect_one_line_error(with({"--plan", "--epochs", "2"}), 2, "other settings", "plan");
  // A third seed with the old settings: only it trains; the table pools three 1-epoch seeds.
  const auto more = with({"--seeds", "3"});
  ASSERT_EQ(more.exit_code, 0) << more.err;
  EXPECT_NE(more.out.find("(2 of them completed before)"), std::string::npos) << more.out;
  // --beside-changed: new runs beside the old ones, in a row of their own.
  const auto beside = with({"--seeds", "2", "--epochs", "2", "--beside-changed"});
  ASSERT_EQ(beside.exit_code, 0) << beside.err;
  EXPECT_NE(beside.out.find("(0 of them completed before)"), std::string::npos) << beside.out;
  const json rows = compare_json({dir / "out"});
  ASSERT_EQ(rows.size(), 2u) << rows;
  const json* one = row_labelled(rows, "a [training.epochs=1]");
  const json* two = row_labelled(rows, "a [training.epochs=2]");
  ASSERT_TRUE(one && two) << rows;
  EXPECT_EQ((*one)["distinct_seeds"], json::array({1, 2, 3}));
  EXPECT_EQ((*two)["distinct_seeds"], json::array({1, 2}));
  EXPECT_EQ((*two)["epochs"], 2);
}

TEST(Pooling, SweepRefusesTwoConfigurationsOfOneNameAndGridValuesThatParseAlike) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 100, 50);
  write_config(dir, "a.json", "smoke");
  write_config(dir, "a_fast.json", "smoke", {{"learning_rate", 0.01}});
  const std::vector<std::string> plan = {"sweep",      "--plan",       "--data-dir",
                                         dir / "data", "--output-dir", dir / "out"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = plan;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  testing::expect_one_line_error(with({"--configs", dir / "a.json" + "," + dir / "a_fast.json"}), 2,
                                 "are both named \"smoke\"", "same name");
  testing::expect_one_line_error(with({"--configs", dir / "a.json" + "," + dir / "a.json"}), 2,
                                 "is listed twice", "same file");
  testing::expect_one_line_error(
      with({"--configs", dir / "a.json", "--grid", "training.learning_rate=0.001,1e-3"}), 2,
      "grid points training.learning_rate=0.001 and training.learning_rate=1e-3 resolve to the "
      "same settings",
      "grid values alike");
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(
      with({"--configs", dir / "a.json", "--grid", "training.learning_rate=0.001,1e-2"}).exit_code,
      0);
}

TEST(Pooling, SelectionOnTheTestSplitIsWarnedRecordedAndMarked) {
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 200, 50);
  const json stopping = {{"monitor", "val_loss"}, {"patience", 1}, {"restore_best_weights", true}};
  write_config(dir, "on_test.json", "on_test", {{"epochs", 2}, {"early_stopping", stopping}});
  write_config(dir, "on_split.json", "on_split",
               {{"epochs", 2}, {"early_stopping", stopping}, {"validation", "split"}});
  write_config(dir, "plain.json", "plain");
  for (const char* file : {"on_test.json", "on_split.json", "plain.json"}) {
    ASSERT_EQ(train(dir, file).exit_code, 0) << file;
  }
  std::map<std::string, std::string> dirs;
  for (const auto& run : run_folders(dir / "runs")) {
    const json summary = json::parse(testing::read_text(run + "/summary.json"));
    dirs[summary["name"]] = run;
  }
  const auto summary = [&](const std::string& name) {
    return json::parse(testing::read_text(dirs[name] + "/summary.json"));
  };
  EXPECT_EQ(summary("on_test")["selected_on"], "test");
  EXPECT_EQ(summary("on_split")["selected_on"], "split");
  EXPECT_FALSE(summary("plain").contains("selected_on"));
  const std::string warning = "The test split selects the model";
  EXPECT_NE(testing::read_text(dirs["on_test"] + "/train.log").find(warning), std::string::npos);
  EXPECT_EQ(testing::read_text(dirs["on_split"] + "/train.log").find(warning), std::string::npos);
  EXPECT_EQ(testing::read_text(dirs["plain"] + "/train.log").find(warning), std::string::npos);
  const json rows = compare_json({dir / "runs"});
  for (const auto& row : rows) {
    const bool on_test = row["configuration"] == "on_test";
    EXPECT_EQ(row["selected_on"], on_test                              ? "test"
                                  : row["configuration"] == "on_split" ? "split"
                                                                       : "none")
        << row;
    EXPECT_EQ(row["notes"].get<std::string>().find("model selected on the test split") !=
                  std::string::npos,
              on_test)
        << row;
  }
  // evaluate --which best on a run that validated on the test split says so.
  const auto best =
      run_cli({"evaluate", dirs["plain"], "--which", "best", "--data-dir", dir / "data"});
  ASSERT_EQ(best.exit_code, 0) << best.err;
  EXPECT_NE((best.out + best.err).find("its epoch was chosen on the test split"), std::string::npos)
      << best.out << best.err;
  const auto last = run_cli({"evaluate", dirs["plain"], "--data-dir", dir / "data"});
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ((last.out + last.err).find("chosen on the test split"), std::string::npos);
}

}  // namespace
}  // namespace cifar_exp
