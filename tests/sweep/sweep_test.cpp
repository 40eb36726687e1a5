// Tests for sweep.h: grid axes, grid points, run names and the task list.
#include "cifar_exp/sweep/sweep.h"

#include <gtest/gtest.h>

#include "cifar_exp/config/run_name.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/records/comparison.h"
#include "test_support.h"

using nlohmann::json;

namespace cifar_exp {
namespace {

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Sweep, GridValuesSplitOutsideBracketsAndQuotes) {
  const auto axis =
      parse_grid_axis(R"(augmentation.zoom_range=[0.8,1.2],0.1,{"a": 1, "b": 2},"x,y")");
  EXPECT_EQ(axis.key, "augmentation.zoom_range");
  EXPECT_EQ(axis.values,
            (std::vector<std::string>{"[0.8,1.2]", "0.1", R"({"a": 1, "b": 2})", R"("x,y")"}));
}

TEST(Sweep, GridKeysTheSweepSetsItselfAreRefused) {
  EXPECT_NE(config_error([] { parse_grid_axis("training.seed=1,2"); }).find("use --seeds"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_grid_axis("output.dir=a,b"); }).find("use --output-dir"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_grid_axis("name=a,b"); }).find("names each grid point"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_grid_axis("Training.Epochs=1"); }).find("not a config key"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_grid_axis("training.epochs=1,,2"); }).find("empty value"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_grid_axis("training.epochs"); }).find("KEY=V1,V2"),
            std::string::npos);
  EXPECT_NE(config_error([] {
              grid_points({parse_grid_axis("training=1"), parse_grid_axis("training.epochs=2")});
            }).find("overlaps"),
            std::string::npos);
}

TEST(Sweep, PointsVaryTheFirstAxisSlowestAndNamesReadBack) {
  const auto points =
      grid_points({parse_grid_axis("training.batch_size=32,64"),
                   parse_grid_axis("augmentation.fill_mode=\"reflect\",[0.8, 1.2]")});
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(grid_point_name("base", points[0]),
            "base+training.batch_size=32+augmentation.fill_mode=reflect");
  EXPECT_EQ(grid_point_name("base", points[1]),
            "base+training.batch_size=32+augmentation.fill_mode=0.8_1.2");
  EXPECT_EQ(grid_point_name("base", points[2]).substr(0, 30), "base+training.batch_size=64+au");
  // compare reads the keys back from the name.
  const auto grid = RunName::parse(grid_point_name("base", points[3])).grid;
  ASSERT_EQ(grid.size(), 2u);
  EXPECT_EQ(grid[0], std::make_pair(std::string("training.batch_size"), std::string("64")));
  EXPECT_EQ(grid_points({}).size(), 1u);
}

TEST(Sweep, PlanListsTasksAndWhatIsCompleteWithoutWriting) {
  testing::TempDir dir;
  testing::write_text(dir / "a.json", R"({"name": "a"})");
  SweepOptions options;
  options.configs = {dir / "a.json"};
  options.seeds = 2;
  options.grid = {"training.epochs=1,2"};
  options.output_dir = dir / "out";
  // A completed run of a+training.epochs=2 seed 2 is already there.
  const std::string done = dir / "out/a+training.epochs=2-20260101T000000Z";
  std::filesystem::create_directories(done);
  testing::write_text(done + "/summary.json",
                      R"({"name": "a+training.epochs=2", "status": "completed", "seed": 2,
                          "test_accuracy": 0.5})");
  // ... with the settings of that grid point (the sweep reuses only such a run).
  ConfigOverrides at_point;
  at_point.set = {"name=a+training.epochs=2", "training.epochs=2"};
  testing::write_text(done + "/config.json", to_json(load_config(dir / "a.json", at_point)).dump());
  const auto plan = plan_sweep(options);
  ASSERT_EQ(plan.tasks.size(), 4u);
  EXPECT_EQ(plan.completed(), 1);
  EXPECT_EQ(plan.tasks[3].name, "a+training.epochs=2");
  EXPECT_EQ(plan.tasks[3].seed, 2);
  EXPECT_EQ(plan.tasks[3].completed_dir, done);
  EXPECT_EQ(plan.tasks[0].set,
            (std::vector<std::string>{"name=a+training.epochs=1", "training.epochs=1"}));
  EXPECT_EQ(describe_plan(plan),
            "Sweep: 1 configuration(s) x 2 grid point(s) x 2 seed(s) = 4 runs (1 of them "
            "completed before).");
  const json j = to_json(plan);
  EXPECT_EQ(j["tasks"][3]["status"], "completed");
  EXPECT_TRUE(j["tasks"][0]["run_dir"].is_null());
  const std::string tsv = format_tsv(plan);
  EXPECT_EQ(tsv.substr(0, tsv.find('\n')),
            "index\tstatus\tseed\tname\tconfig\toutput_dir\trun_dir\tset");
  EXPECT_NE(tsv.find("\n0\tpending\t1\ta+training.epochs=1\t" + std::string(dir / "a.json") + "\t" +
                     plan.output_dir + "\t-\tname=a+training.epochs=1\x1ftraining.epochs=1\n"),
            std::string::npos)
      << tsv;
  EXPECT_FALSE(std::filesystem::exists(dir / "out/sweep.json"));  // planning writes nothing
  EXPECT_FALSE(std::filesystem::exists(dir / "out/logs"));
  prepare_sweep_folder(plan);
  const auto order = read_sweep_order({dir / "out"});
  EXPECT_EQ(order.configurations, std::vector<std::string>{"a"});
  EXPECT_EQ(order.runs, (std::vector<std::string>{"a+training.epochs=1", "a+training.epochs=2"}));
}

TEST(Sweep, PlanRefusesBadPointsAndCollidingNames) {
  testing::TempDir dir;
  testing::write_text(dir / "a.json", R"({"name": "a"})");
  SweepOptions options;
  options.configs = {dir / "a.json"};
  options.output_dir = dir / "out";
  options.grid = {"training.epochs=1,ten"};
  EXPECT_NE(config_error([&] {
              plan_sweep(options);
            }).find("at training.epochs=ten: --set training.epochs: must be a positive integer"),
            std::string::npos);
  options.grid = {R"(description="a b","a_b")"};
  EXPECT_NE(
      config_error([&] { plan_sweep(options); }).find("both give the run name a+description=a_b"),
      std::string::npos);
  options.grid = {};
  options.configs = {"no_such_config"};
  EXPECT_NE(
      config_error([&] { plan_sweep(options); }).find("--configs: no_such_config: no such config"),
      std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

}  // namespace
}  // namespace cifar_exp
