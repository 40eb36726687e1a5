// Tests for run_name.h: the grammar of run names, taken apart, checked and put together.
#include "cifar_exp/config/run_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cifar_exp {
namespace {

using Grid = std::vector<std::pair<std::string, std::string>>;

TEST(RunName, GridNamesGiveTheirKeys) {
  EXPECT_EQ(RunName::parse("base").grid, Grid{});
  EXPECT_EQ(RunName::parse("base").base, "base");
  const auto point = RunName::parse("base+training.epochs=30+augmentation.zoom_range=0.8_1.2");
  EXPECT_EQ(point.base, "base");
  EXPECT_EQ(point.grid, (Grid{{"training.epochs", "30"}, {"augmentation.zoom_range", "0.8_1.2"}}));
  EXPECT_EQ(RunName::parse("a.b-c+x=-1").grid, (Grid{{"x", "-1"}}));
  EXPECT_EQ(RunName::parse("base+not a key").grid, Grid{});
  EXPECT_EQ(RunName::parse("base+not a key").base, "base");
  EXPECT_EQ(RunName::parse("base+Upper=1").grid, Grid{});
  EXPECT_EQ(RunName::parse("base+a..b=1").grid, Grid{});
  EXPECT_EQ(RunName::parse("base+x=a=b").grid, (Grid{{"x", "a=b"}}));
  EXPECT_EQ(RunName::parse("base+").grid, Grid{});
  EXPECT_EQ(RunName::parse("a++b=1").grid, Grid{});
  // A hand-made folder name of any length is read without recursion.
  EXPECT_EQ(RunName::parse("b+" + std::string(1000000, 'k') + "=1").grid.size(), 1u);
}

TEST(RunName, TextPutsTheNameTogetherAgain) {
  const std::string name = "aug_tl+training.epochs=30+augmentation.zoom_range=0.8_1.2";
  EXPECT_EQ(RunName::parse(name).text(), name);
  EXPECT_EQ((RunName{"a", {{"training.seed", "1"}}}).text(), "a+training.seed=1");
  EXPECT_EQ((RunName{"a", {}}).text(), "a");
}

TEST(RunName, ValidNamesFollowTheGrammar) {
  for (const std::string name :
       std::vector<std::string>{"a", "no_aug_no_tl", "0.x-y", "a+training.epochs=30",
                                "a+augmentation.zoom_range=0.8_1.2+training.batch_size=64",
                                "a+x=", std::string(100, 'a')}) {
    EXPECT_TRUE(RunName::valid(name)) << name;
  }
  for (const std::string name : std::vector<std::string>{
           "", "_a", "-a", "a b", "a/b", "a+", "a+x", "a+X=1", "a+x=1 2", "a+x=1/2", "+x=1",
           std::string(101, 'a'), "a+x=" + std::string(200, '1')}) {
    EXPECT_FALSE(RunName::valid(name)) << name;
  }
}

}  // namespace
}  // namespace cifar_exp
