// Tests for comparison.h and run_records.h: finding runs, the table, baselines, compare --runs.
#include "cifar_exp/records/comparison.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

// Writes a completed run folder with the given test accuracy and per-epoch val accuracies.
void write_run(const std::string& dir, const std::string& name, int seed, double accuracy,
               const std::vector<double>& val, double seconds = 100.0) {
  fs::create_directories(dir);
  json summary = {{"name", name},
                  {"status", "completed"},
                  {"model", "small_cnn"},
                  {"augmentation", name == "aug"},
                  {"transfer", "none"},
                  {"epochs", int(val.size())},
                  {"seed", seed},
                  {"test_accuracy", accuracy},
                  {"test_error", 1 - accuracy},
                  {"trainable_params", 122570},
                  {"frozen_params", 0},
                  {"train_seconds", seconds},
                  {"images_per_second", 500.0},
                  {"reference_accuracy", 0.709}};
  // The best epoch as a run without early stopping records it: the highest val_accuracy.
  if (!val.empty()) {
    const auto best = std::max_element(val.begin(), val.end());
    summary["best_epoch"] = int(best - val.begin()) + 1;
    summary["best_val_accuracy"] = *best;
  }
  testing::write_text(dir + "/summary.json", summary.dump(2));
  testing::write_text(dir + "/config.json", json({{"name", name}}).dump());
  std::string csv =
      "epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,val_error,seconds,images_"
      "per_second\n";
  for (size_t i = 0; i < val.size(); ++i) {
    csv += std::to_string(i + 1) + ",1,0.5,0.5,1," + std::to_string(val[i]) + "," +
           std::to_string(1 - val[i]) + ",10,500\n";
  }
  testing::write_text(dir + "/metrics.csv", csv);
}

TEST(Comparison, MeanAndSampleStd) {
  const auto s = mean_std({0.6, 0.7, 0.8});
  EXPECT_NEAR(s.mean, 0.7, 1e-12);
  EXPECT_NEAR(s.std, 0.1, 1e-12);
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(mean_std({0.5}).std, 0.0);
  EXPECT_EQ(mean_std({}).n, 0);
}

// Three configurations: base (three seeds), aug (one, and one interrupted), tl (failed to start).
void write_three_configurations(const testing::TempDir& dir) {
  write_run(dir / "base-20260101T000000Z", "base", 1, 0.70, {0.5, 0.72, 0.70}, 90);
  write_run(dir / "base-20260101T000100Z", "base", 2, 0.72, {0.6, 0.74, 0.72}, 110);
  write_run(dir / "base-20260101T000200Z", "base", 3, 0.74, {0.6, 0.70, 0.74}, 100);
  write_run(dir / "aug-20260101T000300Z", "aug", 1, 0.65, {0.6, 0.65});
  // An interrupted run folder: metrics but no summary.
  fs::create_directories(dir / "aug-20260101T000400Z");
  testing::write_text(dir / "aug-20260101T000400Z/config.json", R"({"name": "aug"})");
  // A run that could not start: missing weights (exit code 4), recorded by sweep.sh.
  fs::create_directories(dir / "tl-seed1-failed");
  testing::write_text(dir / "tl.json", R"({"name": "tl", "reference_accuracy": 0.6128,
      "model": {"type": "vgg16_transfer", "weights": "w.h5"}, "augmentation": {"enabled": true}})");
  testing::write_text(
      dir / "tl-seed1-failed/failure.json",
      R"({"name": "tl", "seed": 1, "exit_code": 4, "error": "weights missing", "config": ")" +
          dir / "tl.json" + R"("})");
}

TEST(Comparison, GroupsByConfigWithExactStatistics) {
  testing::TempDir dir;
  write_three_configurations(dir);
  const auto rows = compare_runs(find_runs({dir.path()}));
  ASSERT_EQ(rows.size(), 3u);
  const auto& aug = rows[0];  // folders are read in sorted order
  const auto& base = rows[1];
  const auto& tl = rows[2];
  EXPECT_EQ(base.name, "base");
  EXPECT_EQ(base.runs, 3);
  EXPECT_NEAR(base.test_accuracy.mean, 0.72, 1e-12);
  EXPECT_NEAR(base.test_accuracy.std, 0.02, 1e-12);
  EXPECT_NEAR(base.test_error.mean, 0.28, 1e-12);
  EXPECT_NEAR(base.best_val_accuracy.mean, (0.72 + 0.74 + 0.74) / 3, 1e-9);
  EXPECT_NEAR(base.train_seconds.mean, 100, 1e-9);
  EXPECT_EQ(base.trainable_params, 122570);
  ASSERT_TRUE(base.reference_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*base.reference_accuracy, 0.709);
  EXPECT_EQ(aug.runs, 1);
  EXPECT_EQ(aug.incomplete, 1);
  EXPECT_TRUE(aug.augmentation);
  EXPECT_NE(aug.note.find("no summary.json"), std::string::npos);
  EXPECT_EQ(tl.runs, 0);
  EXPECT_EQ(tl.incomplete, 1);
  EXPECT_EQ(tl.note, "missing weights: run " + script_path("download_vgg16_weights.sh"));

  // Markdown: header, separator, one line per configuration.
  const std::string md = format_markdown(rows);
  EXPECT_EQ(std::count(md.begin(), md.end(), '\n'), 5);
  EXPECT_NE(md.find("| base | small_cnn | no | none | 3 | 3 | 72.00% ± 2.00 | 28.00% ± 2.00 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| aug | small_cnn | yes | none | 2 | 1 (+1 incomplete) | 65.00% |"),
            std::string::npos)
      << md;
  // The failed run's row is described from its config.
  EXPECT_NE(md.find("| tl | vgg16_transfer | yes | pretrained | - | 0 (+1 incomplete) | - |"),
            std::string::npos)
      << md;
  EXPECT_NE(
      md.find("| 61.28% | missing weights: run " + script_path("download_vgg16_weights.sh") + " |"),
      std::string::npos)
      << md;

  // CSV parses back: header plus three rows with the same numbers.
  std::istringstream csv(format_csv(rows));
  std::vector<std::vector<std::string>> table;
  for (std::string line; std::getline(csv, line);) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(f);
    table.push_back(fields);
  }
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table[0][7], "test_accuracy_mean");
  EXPECT_EQ(table[2][0], "base");
  EXPECT_NEAR(std::stod(table[2][7]), 0.72, 1e-6);
  EXPECT_NEAR(std::stod(table[2][8]), 0.02, 1e-6);

  // JSON parses back.
  const json j = json::parse(to_json(rows).dump());
  ASSERT_EQ(j.size(), 3u);
  EXPECT_NEAR(j[1]["test_accuracy"]["mean"].get<double>(), 0.72, 1e-12);
  EXPECT_EQ(j[1]["test_accuracy"]["n"], 3);
  EXPECT_TRUE(j[2]["test_accuracy"].is_null());
  EXPECT_EQ(j[2]["incomplete"], 1);
  // The runs behind each row's statistics: completed runs only, as compare --runs names them.
  ASSERT_EQ(j[1]["seeds"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(j[1]["seeds"][i]["seed"], int(i) + 1);
    EXPECT_NEAR(j[1]["seeds"][i]["test_accuracy"].get<double>(), 0.70 + 0.02 * double(i), 1e-12);
    EXPECT_EQ(j[1]["seeds"][i]["dir"], dir / ("base-20260101T000" + std::to_string(i) + "00Z"));
  }
  EXPECT_EQ(j[0]["seeds"].size(), 1u);  // the interrupted run is not behind aug's figures
  EXPECT_EQ(j[2]["seeds"], json::array());
}

// One column table drives the three formats: every line has as many cells as its header.
TEST(Comparison, EveryLineHasEveryColumn) {
  testing::TempDir dir;
  write_run(dir / "a+training.epochs=2-20260101T000000Z", "a+training.epochs=2", 1, 0.5, {0.5});
  write_run(dir / "b-20260101T000000Z", "b", 1, 0.6, {0.6, 0.6});
  write_run(dir / "b-20260101T000100Z", "b", 2, 0.7, {0.6, 0.7});
  const auto rows = compare_runs(find_runs({dir.path()}));
  ASSERT_EQ(rows.size(), 2u);
  auto cells = [](const std::string& text, char separator) {
    std::vector<size_t> counts;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      counts.push_back(size_t(std::count(line.begin(), line.end(), separator)));
    return counts;
  };
  const auto md = cells(format_markdown(rows), '|');
  ASSERT_EQ(md.size(), 4u);
  for (size_t count : md) EXPECT_EQ(count, md[0]);
  const auto csv = cells(format_csv(rows), ',');
  ASSERT_EQ(csv.size(), 3u);
  for (size_t count : csv) EXPECT_EQ(count, csv[0]);
  // Each statistic has its mean and standard deviation in CSV.
  for (const char* stat :
       {"test_accuracy", "test_error", "best_val_accuracy", "train_seconds", "images_per_second"}) {
    EXPECT_NE(format_csv(rows).find(std::string(stat) + "_mean," + stat + "_std,"),
              std::string::npos)
        << stat;
  }
  const json j = to_json(rows);
  // No config.json: the name's text.
  EXPECT_EQ(j[0]["grid"], json::parse(R"([{"key": "training.epochs", "value": "2"}])"));
  EXPECT_EQ(j[1]["grid"], json::array());
  EXPECT_NEAR(j[1]["test_accuracy"]["std"].get<double>(), 0.0707107, 1e-6);
}

TEST(Comparison, AcceptsSingleRunFoldersAndRejectsMissingPaths) {
  testing::TempDir dir;
  write_run(dir / "a-20260101T000000Z", "a", 1, 0.5, {0.5});
  const auto runs = find_runs({dir / "a-20260101T000000Z"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].complete());
  EXPECT_THROW(find_runs({dir / "missing"}), ConfigError);
}

TEST(Comparison, CliPrintsEveryFormat) {
  testing::TempDir dir;
  write_run(dir / "runs/a-20260101T000000Z", "a", 1, 0.5, {0.5});
  write_run(dir / "runs/a-20260101T000001Z", "a", 2, 0.7, {0.7});
  auto md = testing::run_cli({"compare", dir / "runs", "--format", "markdown", "--columns", "all"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| a | small_cnn | no | none | 1 | 2 | 60.00% ± 14.14 |"),
            std::string::npos)
      << md.out;
  auto js =
      testing::run_cli({"compare", dir / "runs", "--format", "json", "--out", dir / "t.json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  EXPECT_NEAR(json::parse(js.out)[0]["test_accuracy"]["mean"].get<double>(), 0.6, 1e-12);
  EXPECT_EQ(testing::read_text(dir / "t.json"), js.out);
  auto bad = testing::run_cli({"compare", dir / "nowhere"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("nowhere: no such run folder"), std::string::npos);
  auto bad_format = testing::run_cli({"compare", dir / "runs", "--format", "xml"});
  EXPECT_EQ(bad_format.exit_code, 2);
}

// `compare --runs --format json`: what scripts read instead of the files of a run folder.
TEST(Comparison, RunListingCarriesSummaryConfigAndEpochs) {
  testing::TempDir dir;
  // metrics.csv in the usual column order, and config.json.
  write_run(dir / "a-20260101T000000Z", "a", 1, 0.7, {0.5, 0.7});
  testing::write_text(dir / "a-20260101T000000Z/config.json",
                      R"({"name": "a", "training": {"seed": 1, "epochs": 2}})");
  // metrics.csv with its columns in another order and some missing: read by the header's names.
  fs::create_directories(dir / "b-20260101T000000Z");
  testing::write_text(dir / "b-20260101T000000Z/metrics.csv",
                      "val_accuracy,seconds,epoch,train_loss\n0.25,3.5,1,2.0\n0.5,x,2,1.5\n");
  // metrics.jsonl is preferred to metrics.csv.
  fs::create_directories(dir / "c-20260101T000000Z");
  testing::write_text(
      dir / "c-20260101T000000Z/metrics.jsonl",
      json({{"epoch", 1}, {"val_accuracy", 0.125}, {"val_error", 0.875}}).dump() + "\nnot json\n");
  testing::write_text(dir / "c-20260101T000000Z/metrics.csv",
                      "epoch,val_accuracy\n1,0.9\n2,0.95\n");
  testing::write_text(dir / "c-20260101T000000Z/summary.json", "{ unreadable");
  // A run that could not start: failure.json only.
  fs::create_directories(dir / "d-seed1-failed");
  testing::write_text(dir / "d-seed1-failed/failure.json",
                      R"({"name": "d", "seed": 1, "exit_code": 3, "error": "no data"})");

  const json list = json::parse(format_runs(find_runs({dir.path()}), "json"));
  ASSERT_EQ(list.size(), 4u);
  for (const auto& entry : list) {
    for (const char* key :
         {"dir", "name", "seed", "status", "problem", "summary", "config", "epochs"})
      EXPECT_TRUE(entry.contains(key)) << key << " missing in " << entry.dump();
    EXPECT_TRUE(entry["epochs"].is_array());
  }
  const json& a = list[0];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["status"], "completed");
  EXPECT_EQ(a["summary"]["test_accuracy"], 0.7);
  EXPECT_EQ(a["summary"]["name"], "a");
  EXPECT_EQ(a["config"], json::parse(R"({"name": "a", "training": {"seed": 1, "epochs": 2}})"));
  ASSERT_EQ(a["epochs"].size(), 2u);
  EXPECT_EQ(a["epochs"][1]["epoch"], 2);
  EXPECT_TRUE(a["epochs"][1]["epoch"].is_number_integer());
  EXPECT_DOUBLE_EQ(a["epochs"][1]["val_accuracy"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(a["epochs"][1]["val_error"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(a["epochs"][1]["images_per_second"].get<double>(), 500);
  EXPECT_EQ(a["epochs"][0].size(), 10u);

  const json& b = list[1];
  EXPECT_EQ(b["status"], "incomplete");
  EXPECT_TRUE(b["summary"].is_null());
  EXPECT_TRUE(b["config"].is_null());
  ASSERT_EQ(b["epochs"].size(), 2u);
  EXPECT_EQ(b["epochs"][0]["epoch"], 1);
  EXPECT_DOUBLE_EQ(b["epochs"][0]["val_accuracy"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(b["epochs"][0]["seconds"].get<double>(), 3.5);
  EXPECT_DOUBLE_EQ(b["epochs"][1]["train_loss"].get<double>(), 1.5);
  EXPECT_TRUE(b["epochs"][1]["seconds"].is_null()) << "not a number";
  EXPECT_TRUE(b["epochs"][0]["val_loss"].is_null()) << "no such column";
  EXPECT_EQ(b["epochs"][0].size(), 10u);

  const json& c = list[2];
  EXPECT_TRUE(c["summary"].is_null()) << "an unreadable summary.json";
  ASSERT_EQ(c["epochs"].size(), 1u) << "metrics.jsonl first; its damaged line left out";
  EXPECT_DOUBLE_EQ(c["epochs"][0]["val_accuracy"].get<double>(), 0.125);
  EXPECT_TRUE(c["epochs"][0]["train_loss"].is_null());

  const json& d = list[3];
  EXPECT_EQ(d["status"], "failed");
  EXPECT_TRUE(d["summary"].is_null()) << "failure.json is not a summary";
  EXPECT_TRUE(d["config"].is_null());
  EXPECT_EQ(d["epochs"], json::array());

  // The command prints the same; its other formats are unchanged.
  const auto cli = testing::run_cli({"compare", "--runs", "--format", "json", dir.path()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(json::parse(cli.out), list);
  const auto csv = testing::run_cli({"compare", "--runs", "--format", "csv", dir.path()});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.substr(0, csv.out.find('\n')), "dir,name,seed,status,fingerprint");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 5);
}

// A grid sweep's run: the name carries the grid point, config.json the exact values.
void write_grid_run(const std::string& dir, const std::string& base, int batch, int epochs,
                    int seed, double accuracy) {
  const std::string name = base + "+training.batch_size=" + std::to_string(batch) +
                           "+training.epochs=" + std::to_string(epochs);
  write_run(dir, name, seed, accuracy, std::vector<double>(size_t(epochs), accuracy));
  testing::write_text(
      dir + "/config.json",
      json({{"name", name},
            {"training", {{"batch_size", batch}, {"epochs", epochs}, {"seed", seed}}}})
          .dump(2));
}

TEST(Comparison, GridPointsAreRowsWithTheirKeysAsColumns) {
  testing::TempDir dir;
  int folder = 0;
  auto next = [&](const std::string& base) {
    return dir / (base + "-20260101T0000" + std::to_string(10 + folder++) + "Z");
  };
  // Written out of order: 128 sorts before 32 as text, but rows go by value.
  for (int batch : {128, 32}) {
    for (int epochs : {30, 10}) {
      for (int seed : {1, 2}) {
        write_grid_run(next("b"), "b", batch, epochs, seed, 0.5 + 0.001 * batch + 0.01 * seed);
      }
    }
  }
  write_run(next("a"), "a", 1, 0.4, {0.4});  // a plain run beside the grid
  // A grid point that could not start: described from its config and its --set values.
  testing::write_text(dir / "b.json", R"({"name": "b", "model": {"type": "small_cnn"}})");
  fs::create_directories(dir / "b+training.batch_size=64+training.epochs=10-seed1-failed");
  testing::write_text(
      dir / "b+training.batch_size=64+training.epochs=10-seed1-failed/failure.json",
      json({{"name", "b+training.batch_size=64+training.epochs=10"},
            {"seed", 1},
            {"exit_code", 3},
            {"error", "data missing"},
            {"config", dir / "b.json"},
            {"set",
             {"name=b+training.batch_size=64+training.epochs=10", "training.batch_size=64",
              "training.epochs=10", "augmentation.enabled=true"}}})
          .dump());

  const auto rows = compare_runs(find_runs({dir.path()}));
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0].name, "a");
  EXPECT_TRUE(rows[0].grid.empty());
  const std::vector<std::pair<int, int>> order = {
      {32, 10}, {32, 30}, {64, 10}, {128, 10}, {128, 30}};
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.grid.size(), 2u) << row.name;
    EXPECT_EQ(row.grid[0], (std::pair<std::string, json>{"training.batch_size", order[i].first}));
    EXPECT_EQ(row.grid[1], (std::pair<std::string, json>{"training.epochs", order[i].second}));
  }
  EXPECT_EQ(rows[1].runs, 2);
  EXPECT_NEAR(rows[1].test_accuracy.mean, 0.532 + 0.015, 1e-12);  // seeds add 0.01, 0.02
  EXPECT_EQ(rows[3].runs, 0);
  EXPECT_EQ(rows[3].incomplete, 1);
  EXPECT_TRUE(rows[3].augmentation) << "failure.json's --set values not applied";

  const std::string md = format_markdown(rows);
  EXPECT_NE(md.find("| configuration | training.batch_size | training.epochs | model |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("|---|---|---|---|"), std::string::npos) << md;
  EXPECT_NE(md.find("| a | - | - | small_cnn |"), std::string::npos) << md;
  EXPECT_NE(md.find("| b+training.batch_size=32+training.epochs=30 | 32 | 30 | small_cnn | no |"),
            std::string::npos)
      << md;
  const std::string csv = format_csv(rows);
  EXPECT_EQ(csv.rfind("configuration,training.batch_size,training.epochs,model,augmentation,", 0),
            0u)
      << csv;
  EXPECT_NE(csv.find("\na,,,small_cnn,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nb+training.batch_size=128+training.epochs=10,128,10,small_cnn,false,none,"
                     "10,2,0,"),
            std::string::npos)
      << csv;
  const json j = to_json(rows);
  EXPECT_EQ(j[0]["grid"], json::array());
  EXPECT_EQ(j[0]["base"], "a");
  // In the name's order, batch size first (an object would sort the keys).
  EXPECT_EQ(j[1]["grid"], json::parse(R"([{"key": "training.batch_size", "value": 32},
                                           {"key": "training.epochs", "value": 10}])"));
  EXPECT_EQ(j[1]["base"], "b");
}

// Seeds of a configuration, one run folder each (folder names sort in the order written).
void write_seeds(const testing::TempDir& dir, const std::string& name,
                 const std::vector<double>& accuracies) {
  for (size_t i = 0; i < accuracies.size(); ++i) {
    write_run(dir / (name + "-20260101T00000" + std::to_string(i) + "Z"), name, int(i + 1),
              accuracies[i], {accuracies[i]});
  }
}

const ComparisonRow& row_named(const std::vector<ComparisonRow>& rows, const std::string& name) {
  for (const auto& row : rows)
    if (row.name == name) return row;
  throw std::runtime_error("no row " + name);
}

std::string markdown_line(const std::string& md, const std::string& name) {
  const size_t at = md.find("\n| " + name + " | ");
  return at == std::string::npos ? "" : md.substr(at + 1, md.find('\n', at + 1) - at - 1);
}

// The four configurations of the baseline tests, as a sweep recorded them (base first).
// Expected values (mpmath at 40 digits; see statistics_test.cpp for the formulas):
//   aug - base:    d = 0.7132 - 0.682 = 0.0312, df 2.70839, p 0.139001,
//                  95% [-0.0196336, 0.0820336]: not significant
//   better - base: d = 0.81 - 0.682 = 0.128, df 2.67303, p 0.00519569, 95% [0.0767078, 0.179292]
//   one - base:    d = 0.75 - 0.682 = 0.068, one seed: no interval
void write_baseline_runs(const testing::TempDir& dir) {
  write_seeds(dir, "aug", {0.712, 0.705, 0.731, 0.698, 0.720});
  write_seeds(dir, "base", {0.690, 0.655, 0.701});
  write_seeds(dir, "better", {0.80, 0.81, 0.82});
  write_seeds(dir, "one", {0.75});
  testing::write_text(dir / "sweep.json",
                      R"({"configurations": ["gone", "base", "one", "aug"],
                          "runs": ["gone", "base", "one", "aug"]})");
}

// The baseline comparison of write_baseline_runs in JSON rows.
void expect_baseline_json(const std::vector<ComparisonRow>& rows) {
  const json j = json::parse(to_json(rows).dump());
  EXPECT_EQ(j[0]["vs_baseline"]["is_baseline"], true);
  EXPECT_TRUE(j[0]["vs_baseline"]["p_value"].is_null());
  EXPECT_EQ(j[2]["vs_baseline"]["baseline"], "base");
  EXPECT_NEAR(j[2]["vs_baseline"]["difference"].get<double>(), 0.0312, 1e-12);
  EXPECT_NEAR(j[2]["vs_baseline"]["ci95"][0].get<double>(), -0.019633641196318593, 1e-6);
  EXPECT_NEAR(j[2]["vs_baseline"]["ci95"][1].get<double>(), 0.082033641196318593, 1e-6);
  EXPECT_NEAR(j[2]["vs_baseline"]["p_value"].get<double>(), 0.13900075560813724, 1e-6);
  EXPECT_NEAR(j[2]["vs_baseline"]["df"].get<double>(), 2.7083933727613045, 1e-6);
  EXPECT_EQ(j[2]["vs_baseline"]["significant"], false);
  EXPECT_EQ(j[2]["vs_baseline"]["note"], "not significant");
  EXPECT_EQ(j[3]["vs_baseline"]["significant"], true);
  EXPECT_NEAR(j[1]["vs_baseline"]["difference"].get<double>(), 0.068, 1e-12);
  EXPECT_TRUE(j[1]["vs_baseline"]["ci95"].is_null());
  EXPECT_TRUE(j[1]["vs_baseline"]["p_value"].is_null());
  EXPECT_NE(j[1]["vs_baseline"]["note"].get<std::string>().find("no interval"), std::string::npos);
}

// ... and in CSV.
void expect_baseline_csv(const std::vector<ComparisonRow>& rows) {
  const std::string csv = format_csv(rows);
  // The identity columns come last (duplicates, variant, settings fingerprint, selected_on).
  EXPECT_NE(csv.find(",notes,baseline,difference_vs_baseline,difference_ci95_low,"
                     "difference_ci95_high,p_value,welch_df,significant,duplicates,variant,"
                     "settings_fingerprint,selected_on\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",base,0.031200,-0.019634,0.082034,0.139001,2.708,false,0,,"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",base,0.068000,,,,,,0,,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nbase,"), std::string::npos);
  EXPECT_NE(csv.find(",base,0.000000,,,,,,0,,"), std::string::npos) << csv;
}

TEST(Comparison, DifferencesToTheBaselineWithWelchIntervals) {
  testing::TempDir dir;
  write_baseline_runs(dir);
  CompareOptions options;
  options.order = read_sweep_order({dir.path()});
  EXPECT_EQ(options.order.configurations, (std::vector<std::string>{"gone", "base", "one", "aug"}));
  const auto rows = compare_runs(find_runs({dir.path()}), options);
  // The sweep's order, then the row it does not name; "gone" has no runs, so "base" is the
  // default baseline.
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].name, "base");
  EXPECT_EQ(rows[1].name, "one");
  EXPECT_EQ(rows[2].name, "aug");
  EXPECT_EQ(rows[3].name, "better");

  const auto& base = *rows[0].vs_baseline;
  EXPECT_EQ(base.baseline, "base");
  EXPECT_TRUE(base.is_baseline);
  EXPECT_EQ(base.difference, 0.0);
  EXPECT_FALSE(base.welch.has_value());

  const auto& aug = *rows[2].vs_baseline;
  EXPECT_EQ(aug.baseline, "base");
  EXPECT_FALSE(aug.is_baseline);
  EXPECT_NEAR(aug.difference, 0.0312, 1e-12);
  ASSERT_TRUE(aug.welch.has_value());
  EXPECT_NEAR(aug.welch->df, 2.7083933727613045, 1e-6);
  EXPECT_NEAR(aug.welch->p_value, 0.13900075560813724, 1e-6);
  EXPECT_NEAR(aug.welch->ci_low, -0.019633641196318593, 1e-6);
  EXPECT_NEAR(aug.welch->ci_high, 0.082033641196318593, 1e-6);
  EXPECT_FALSE(aug.significant());

  const auto& better = *rows[3].vs_baseline;
  EXPECT_NEAR(better.difference, 0.128, 1e-12);
  EXPECT_NEAR(better.welch->p_value, 0.0051956946034300667, 1e-6);
  EXPECT_NEAR(better.welch->ci_low, 0.07670784964852958, 1e-6);
  EXPECT_NEAR(better.welch->ci_high, 0.17929215035147042, 1e-6);
  EXPECT_TRUE(better.significant());

  const auto& one = *rows[1].vs_baseline;
  EXPECT_NEAR(one.difference, 0.068, 1e-12);
  EXPECT_FALSE(one.welch.has_value());

  const std::string md = format_markdown(rows);
  EXPECT_NE(md.find("| notes | vs baseline |\n"), std::string::npos) << md;
  EXPECT_EQ(md.find("\n| base | "), md.find('\n', md.find('\n') + 1)) << "base is not row 1";
  EXPECT_NE(markdown_line(md, "base").find(" | baseline |"), std::string::npos) << md;
  EXPECT_NE(
      markdown_line(md, "aug").find(" | +3.12 pp [\u22121.96, +8.20], p = 0.14, not significant |"),
      std::string::npos)
      << md;
  EXPECT_NE(markdown_line(md, "better").find(" | +12.80 pp [+7.67, +17.93], p = 0.005 |"),
            std::string::npos)
      << md;
  EXPECT_NE(
      markdown_line(md, "one").find(" | +6.80 pp, no interval: 1 seed(s) here, 3 in the baseline "
                                    "(needs 2+ distinct seeds on each side) |"),
      std::string::npos)
      << md;

  expect_baseline_json(rows);
  expect_baseline_csv(rows);
}

TEST(Comparison, ChosenBaselineAndUnknownBaseline) {
  testing::TempDir dir;
  write_baseline_runs(dir);
  CompareOptions options;
  options.baseline = "aug";
  const auto rows = compare_runs(find_runs({dir.path()}), options);  // folder order: no sweep
  EXPECT_EQ(rows[0].name, "aug");
  EXPECT_TRUE(row_named(rows, "aug").vs_baseline->is_baseline);
  const auto& base = *row_named(rows, "base").vs_baseline;
  EXPECT_NEAR(base.difference, -0.0312, 1e-12);
  EXPECT_NEAR(base.welch->ci_low, -0.082033641196318593, 1e-6);
  EXPECT_NEAR(base.welch->ci_high, 0.019633641196318593, 1e-6);
  EXPECT_NEAR(base.welch->p_value, 0.13900075560813724, 1e-6);
  EXPECT_NE(markdown_line(format_markdown(rows), "base")
                .find(" | \u22123.12 pp [\u22128.20, +1.96], p = 0.14, not significant |"),
            std::string::npos);

  // Without sweep.json the first row's configuration is the baseline.
  const auto plain = compare_runs(find_runs({dir.path()}));
  EXPECT_TRUE(plain[0].vs_baseline->is_baseline);
  EXPECT_EQ(row_named(plain, "base").vs_baseline->baseline, "aug");

  options.baseline = "nope";
  try {
    compare_runs(find_runs({dir.path()}), options);
    FAIL() << "no error for an unknown baseline";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--baseline nope: no such configuration; available: aug, base, better, one");
  }
}

TEST(Comparison, CliBaselineAndSweepOrder) {
  testing::TempDir dir;
  write_baseline_runs(dir);
  auto js = testing::run_cli({"compare", dir.path(), "--format", "json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  const json j = json::parse(js.out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0]["configuration"], "base");  // sweep.json's order
  EXPECT_EQ(j[2]["configuration"], "aug");
  EXPECT_NEAR(j[2]["vs_baseline"]["p_value"].get<double>(), 0.13900075560813724, 1e-6);

  auto chosen = testing::run_cli(
      {"compare", dir.path(), "--baseline", "better", "--format", "markdown", "--columns", "all"});
  ASSERT_EQ(chosen.exit_code, 0) << chosen.err;
  EXPECT_NE(markdown_line(chosen.out, "better").find(" | baseline |"), std::string::npos)
      << chosen.out;
  EXPECT_EQ(markdown_line(chosen.out, "base").find(" | baseline |"), std::string::npos);

  auto bad = testing::run_cli({"compare", dir.path(), "--baseline", "nope"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--baseline nope: no such configuration; available: base, one, aug, "
                         "better"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;

  testing::write_text(dir / "sweep.json", R"({"runs": "base"})");
  auto broken = testing::run_cli({"compare", dir.path()});
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_NE(broken.err.find("sweep.json: not a cifar-exp sweep record"), std::string::npos)
      << broken.err;
  EXPECT_THROW(read_sweep_order({dir.path()}), ConfigError);
}

// Grid points compare with the baseline configuration at the same grid point; a point the
// baseline configuration lacks, and a plain row, compare with the baseline row itself.
// Expected: b@32 - a@32: d = 0.63 - 0.605 = 0.025, df = 1.47059, p = 0.198727,
// 95% [-0.0441852, 0.0941852] (mpmath).
TEST(Comparison, GridPointsCompareAtTheSameGridPoint) {
  testing::TempDir dir;
  write_seeds(dir, "a+training.batch_size=32", {0.60, 0.61});
  write_seeds(dir, "a+training.batch_size=64", {0.55, 0.57});
  write_seeds(dir, "b+training.batch_size=32", {0.62, 0.64});
  write_seeds(dir, "b+training.batch_size=64", {0.58});
  write_seeds(dir, "b+training.batch_size=128", {0.50, 0.52});
  write_seeds(dir, "c", {0.70, 0.72});
  const auto rows = compare_runs(find_runs({dir.path()}));  // baseline: configuration "a"
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_TRUE(row_named(rows, "a+training.batch_size=32").vs_baseline->is_baseline);
  EXPECT_TRUE(row_named(rows, "a+training.batch_size=64").vs_baseline->is_baseline);
  const auto& b32 = *row_named(rows, "b+training.batch_size=32").vs_baseline;
  EXPECT_EQ(b32.baseline, "a+training.batch_size=32");
  EXPECT_NEAR(b32.difference, 0.025, 1e-12);
  EXPECT_NEAR(b32.welch->df, 1.4705882352941176, 1e-6);
  EXPECT_NEAR(b32.welch->p_value, 0.19872738893452614, 1e-6);
  EXPECT_NEAR(b32.welch->ci_low, -0.044185228300710693, 1e-6);
  EXPECT_NEAR(b32.welch->ci_high, 0.094185228300710693, 1e-6);
  const auto& b64 = *row_named(rows, "b+training.batch_size=64").vs_baseline;
  EXPECT_EQ(b64.baseline, "a+training.batch_size=64");
  EXPECT_NEAR(b64.difference, 0.02, 1e-12);
  EXPECT_FALSE(b64.welch.has_value());
  const auto& b128 = *row_named(rows, "b+training.batch_size=128").vs_baseline;
  EXPECT_EQ(b128.baseline, "a+training.batch_size=32");  // a has no 128: the baseline row
  EXPECT_NEAR(b128.difference, 0.51 - 0.605, 1e-12);
  EXPECT_EQ(row_named(rows, "c").vs_baseline->baseline, "a+training.batch_size=32");

  // A full row name as --baseline: every row compares with that one row.
  CompareOptions options;
  options.baseline = "a+training.batch_size=64";
  const auto fixed_rows = compare_runs(find_runs({dir.path()}), options);
  EXPECT_EQ(row_named(fixed_rows, "a+training.batch_size=32").vs_baseline->baseline,
            "a+training.batch_size=64");
  EXPECT_EQ(row_named(fixed_rows, "b+training.batch_size=32").vs_baseline->baseline,
            "a+training.batch_size=64");
  EXPECT_TRUE(row_named(fixed_rows, "a+training.batch_size=64").vs_baseline->is_baseline);
}

// One best epoch: the table's best val accuracy is each run's summary.json best_val_accuracy
// (early stopping on val_loss chose epoch 2 at 23%), not the highest val_accuracy of any epoch
// (30.33% in epoch 3).
TEST(Comparison, BestValAccuracyIsTheBestEpochsAsTheRunRecordedIt) {
  testing::TempDir dir;
  write_run(dir / "es-20260101T000000Z", "es", 1, 0.22, {0.20, 0.23, 0.3033});
  json summary = json::parse(testing::read_text(dir / "es-20260101T000000Z/summary.json"));
  summary["best_epoch"] = 2;
  summary["best_monitor"] = "val_loss";
  summary["best_value"] = 1.9;
  summary["best_val_accuracy"] = 0.23;
  testing::write_text(dir / "es-20260101T000000Z/summary.json", summary.dump());
  const auto rows = compare_runs(find_runs({dir.path()}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].best_val_accuracy.mean, 0.23);
  EXPECT_NE(format_markdown(rows).find("| 23.00% |"), std::string::npos) << format_markdown(rows);
}

TEST(Comparison, NoComparisonWithoutCompletedRuns) {
  testing::TempDir dir;
  write_seeds(dir, "base", {0.6, 0.7});
  fs::create_directories(dir / "empty-20260101T000000Z");
  testing::write_text(dir / "empty-20260101T000000Z/config.json", R"({"name": "empty"})");
  const auto rows = compare_runs(find_runs({dir.path()}));
  EXPECT_FALSE(row_named(rows, "empty").vs_baseline.has_value());
  EXPECT_NE(markdown_line(format_markdown(rows), "empty").find(" | - |"), std::string::npos);
  EXPECT_TRUE(to_json(rows)[1]["vs_baseline"].is_null());
  // An empty folder: no rows, no baseline, no error; a named baseline is an error.
  testing::TempDir none;
  EXPECT_TRUE(compare_runs(find_runs({none.path()})).empty());
  CompareOptions options;
  options.baseline = "base";
  EXPECT_THROW(compare_runs(find_runs({none.path()}), options), ConfigError);
}

}  // namespace
}  // namespace cifar_exp

namespace cifar_exp {
namespace {

// The four notebook configurations, `seeds` runs each (summaries as runs record them).
std::string write_notebook_runs(const testing::TempDir& dir, int seeds) {
  struct Setup {
    const char *name, *model, *transfer;
    bool augmentation;
    double notebook;
  };
  const Setup setups[] = {{"no_aug_no_tl", "small_cnn", "none", false, 0.709},
                          {"aug_no_tl", "small_cnn", "none", true, 0.6905},
                          {"no_aug_tl", "vgg16_transfer", "imagenet", false, 0.6128},
                          {"aug_tl", "vgg16_transfer", "imagenet", true, 0.5837}};
  for (const Setup& s : setups) {
    for (int seed = 1; seed <= seeds; ++seed) {
      const std::string run = dir / ("runs/" + std::string(s.name) + "-" + std::to_string(seed));
      const double accuracy = s.notebook - 0.0123 * seed;
      write_run(run, s.name, seed, accuracy, {accuracy});
      json summary = json::parse(testing::read_text(run + "/summary.json"));
      summary["model"] = s.model;
      summary["transfer"] = s.transfer;
      summary["augmentation"] = s.augmentation;
      summary["reference_accuracy"] = s.notebook;
      testing::write_text(run + "/summary.json", summary.dump());
    }
  }
  return dir / "runs";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Characters as a terminal counts them (UTF-8 code points).
size_t columns_of(const std::string& line) {
  return size_t(std::count_if(line.begin(), line.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

TEST(ComparisonView, DefaultTextTableOfTheNotebookFitsAHundredColumns) {
  testing::TempDir dir;
  const auto rows =
      compare_runs(find_runs({write_notebook_runs(dir, 3)}), CompareOptions{{}, "no_aug_no_tl"});
  const std::string text = format_text(rows);
  const auto lines = lines_of(text);
  for (const auto& line : lines) EXPECT_LE(columns_of(line), 100u) << line << "\n" << text;
  // Settings every row shares once above; the header; a rule; one line per configuration.
  ASSERT_GE(lines.size(), 7u) << text;
  EXPECT_EQ(lines[0].rfind("Every row: epochs 1,", 0), 0u) << text;
  EXPECT_EQ(lines[1].rfind("configuration  setup", 0), 0u) << text;
  for (const char* header : {"seeds", "test acc (%)", "vs baseline (pp, 95% CI)", "notebook\u2020"})
    EXPECT_NE(lines[1].find(header), std::string::npos) << header << "\n" << text;
  EXPECT_EQ(lines[2].find_first_not_of("- "), std::string::npos) << text;
  // What differs between rows is in the setup column; numbers right-aligned under their header.
  EXPECT_NE(text.find("aug_tl         vgg16, imagenet, aug "), std::string::npos) << text;
  EXPECT_NE(text.find("no_aug_no_tl   small_cnn, no aug "), std::string::npos) << text;
  EXPECT_NE(text.find(" baseline "), std::string::npos) << text;
  // aug_tl: 0.5837 - 0.0123 s against 0.709 - 0.0123 s: −12.5 pp, no spread in the difference.
  EXPECT_NE(text.find("\u221212.5 ["), std::string::npos) << text;
  EXPECT_NE(text.find("70.90"), std::string::npos) << text;
  EXPECT_NE(text.find("68.44 \u00b1 1.23"), std::string::npos) << text;  // mean and std, in %
  EXPECT_NE(text.find("\u2020 notebook: the Keras notebook's test accuracy"), std::string::npos);
  // Every row's figures are the same as in the full table.
  const std::string all = format_markdown(rows);
  EXPECT_NE(all.find("| 68.44% ± 1.23 |"), std::string::npos) << all;
}

TEST(ComparisonView, ASettingThatDiffersBetweenRowsIsShownAndOneThatIsSharedIsNot) {
  testing::TempDir dir;
  write_run(dir / "a-1", "a", 1, 0.5, {0.5});
  write_run(dir / "b-1", "b", 1, 0.6, {0.6});
  json summary = json::parse(testing::read_text(dir / "b-1/summary.json"));
  summary["epochs"] = 7;
  testing::write_text(dir / "b-1/summary.json", summary.dump());
  const auto rows = compare_runs(find_runs({dir.path()}));
  const std::string text = format_text(rows);
  EXPECT_NE(text.find("a              1 epochs"), std::string::npos) << text;
  EXPECT_NE(text.find("b              7 epochs"), std::string::npos) << text;
  EXPECT_NE(text.find("Every row: model small_cnn, transfer none, augmentation no, validation"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(1 vs 1 seeds)"), std::string::npos) << text;  // no interval, and why
  EXPECT_NE(text.find("no interval or p-value, which need 2+ distinct seeds on each side."),
            std::string::npos)
      << text;
}

TEST(ComparisonView, ColumnsByNameAndUnknownNamesRefused) {
  testing::TempDir dir;
  write_run(dir / "a-1", "a", 1, 0.5, {0.5});
  const auto rows = compare_runs(find_runs({dir.path()}));
  EXPECT_EQ(format_text(rows, "configuration,images_per_second"),
            "configuration  images/s\n-------------  --------\na                   500\n");
  EXPECT_EQ(format_markdown(rows, "test_accuracy"), "| test accuracy |\n|---:|\n| 50.00% |\n");
  // "all" is every column of the full table.
  EXPECT_EQ(format_text(rows, "all").find("configuration  model"), 0u);
  try {
    format_text(rows, "test_accuracy,bogus");
    ADD_FAILURE() << "an unknown column was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--columns test_accuracy,bogus: no column 'bogus'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(format_text(rows, ""), ConfigError);
  const auto before = testing::snapshot(dir.path());
  testing::expect_one_line_error(testing::run_cli({"compare", dir.path(), "--columns", "bogus"}), 2,
                                 "--columns bogus: no column 'bogus'", "unknown column");
  EXPECT_EQ(testing::snapshot(dir.path()), before);
  // The default: the aligned text table; markdown on request.
  const auto text = testing::run_cli({"compare", dir.path()});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("configuration  seeds  test acc (%)"), std::string::npos) << text.out;
  const auto markdown = testing::run_cli({"compare", dir.path(), "--format", "markdown"});
  EXPECT_NE(markdown.out.find("| configuration | seeds | test acc (%) |"), std::string::npos)
      << markdown.out;
}

}  // namespace
}  // namespace cifar_exp

namespace cifar_exp {
namespace {

// A run folder with nothing but metrics.csv (a run killed before its first summary): its name is
// the folder's, less the seed and time (and the -N of a second folder in one second).
TEST(RunRecords, NameFromTheFolderLessSeedAndTime) {
  testing::TempDir dir;
  const std::map<std::string, std::string> folders = {
      {"no_aug_no_tl-seed3-20261128T040129Z", "no_aug_no_tl"},
      {"aug-seed12-20261128T040129Z-2", "aug"},
      {"old-20261128T040129Z", "old"},  // made by an earlier version: no seed
      {"a+training.epochs=2-seed1-20261128T040129Z", "a+training.epochs=2"},
      {"my-seedling-20261128T040129Z", "my-seedling"}};
  for (const auto& [folder, name] : folders) {
    fs::create_directories(dir / folder);
    testing::write_text(dir / (folder + "/metrics.csv"), "epoch,train_loss\n");
  }
  const auto runs = find_runs({dir.path()});
  ASSERT_EQ(runs.size(), folders.size());
  for (const auto& run : runs) {
    const std::string folder = fs::path(run.dir).filename().string();
    EXPECT_EQ(run.name, folders.at(folder)) << folder;
  }
}

}  // namespace
}  // namespace cifar_exp
