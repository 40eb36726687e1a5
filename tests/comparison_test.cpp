#include "cifar_exp/comparison.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "cifar_exp/errors.h"
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
  testing::write_text(dir + "/summary.json", summary.dump(2));
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

TEST(Comparison, GroupsByConfigWithExactStatistics) {
  testing::TempDir dir;
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
  EXPECT_EQ(tl.note, "missing weights: run scripts/download_vgg16_weights.sh");

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
  EXPECT_NE(md.find("| 61.28% | missing weights: run scripts/download_vgg16_weights.sh |"),
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
  auto md = testing::run_cli({"compare", dir / "runs"});
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

TEST(Comparison, GridNamesGiveTheirKeys) {
  using Grid = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(grid_of_name("base"), Grid{});
  EXPECT_EQ(grid_of_name("base+training.epochs=30+augmentation.zoom_range=0.8_1.2"),
            (Grid{{"training.epochs", "30"}, {"augmentation.zoom_range", "0.8_1.2"}}));
  EXPECT_EQ(grid_of_name("a.b-c+x=-1"), (Grid{{"x", "-1"}}));
  EXPECT_EQ(grid_of_name("base+not a key"), Grid{});
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
  EXPECT_EQ(j[0]["grid"], json::object());
  EXPECT_EQ(j[1]["grid"], json({{"training.batch_size", 32}, {"training.epochs", 10}}));
}

}  // namespace
}  // namespace cifar_exp
