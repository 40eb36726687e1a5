// Tests for report.h: report.html holds every row and plot of `compare`, settings, seeds and
// provenance, self-contained; `cifar-exp report` and its refusals.
#include "cifar_exp/records/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/records/run_records.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

// A completed run folder as a run writes it (the fields compare and the report read).
void write_run(const std::string& dir, const std::string& name, int seed, double accuracy,
               const std::string& optimizer) {
  fs::create_directories(dir);
  json summary = {
      {"name", name},
      {"status", "completed"},
      {"model", "small_cnn"},
      {"augmentation", name.find("aug") == 0},
      {"transfer", "none"},
      {"epochs", 1},
      {"seed", seed},
      {"test_accuracy", accuracy},
      {"test_error", 1 - accuracy},
      {"device", "cpu"},
      {"provenance", {{"cpu", "Test CPU <x>"}, {"libtorch", "9.9.9"}, {"convolution", "direct"}}}};
  testing::write_text(dir + "/summary.json", summary.dump());
  json config = {{"name", name},
                 {"training", {{"seed", seed}, {"optimizer", optimizer}, {"epochs", 1}}},
                 {"augmentation", {{"horizontal_flip", name.find("aug") == 0}}}};
  testing::write_text(dir + "/config.json", config.dump());
}

std::string write_sweep(const testing::TempDir& dir) {
  const std::string runs = dir / "sweep";
  write_run(runs + "/base-1", "base", 1, 0.60, "adam");
  write_run(runs + "/base-2", "base", 2, 0.62, "adam");
  write_run(runs + "/aug-1", "aug", 1, 0.65, "sgd");
  write_run(runs + "/aug-2", "aug", 2, 0.66, "sgd");
  fs::create_directories(runs + "/plots");
  testing::write_text(runs + "/plots/curves.png", std::string("\x89PNG\r\n\x1a\n", 8) + "abc");
  testing::write_text(runs + "/plots/confusion_base.png",
                      std::string("\x89PNG\r\n\x1a\n", 8) + "de");
  testing::write_text(runs + "/plots/notes.txt", "not a plot");
  return runs;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(Report, HoldsEveryRowAndPlotOfCompareSettingsSeedsAndProvenance) {
  testing::TempDir dir;
  const std::string runs = write_sweep(dir);
  ReportOptions options;
  options.paths = {runs};
  const std::string html = report_html(options);
  // Every row of compare (its label) in the results table, and the full table too.
  const auto rows = compare_runs(find_runs({runs}));
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_GE(count_of(html, "<td>" + row.label() + "</td>"), 2u) << row.label();
  }
  EXPECT_NE(html.find(format_html(rows)), std::string::npos);
  EXPECT_NE(html.find(format_html(rows, "all")), std::string::npos);
  // Every PNG of plots/, inlined byte for byte (base64), and nothing else of that folder.
  EXPECT_EQ(count_of(html, "<img "), 2u);
  EXPECT_NE(html.find("src=\"data:image/png;base64,iVBORw0KGgphYmM=\""), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64,iVBORw0KGgpkZQ==\""), std::string::npos);
  EXPECT_EQ(html.find("notes.txt"), std::string::npos);
  // What differs between rows (optimizer, augmentation) as a table; what is shared, once.
  EXPECT_NE(html.find("<tr><td><code>training.optimizer</code></td><td>sgd</td><td>adam</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<tr><td><code>training.epochs</code></td><td>1</td></tr>"),
            std::string::npos);
  EXPECT_EQ(html.find("training.seed"), std::string::npos);
  // Seeds, one line each; provenance escaped, with its run count.
  EXPECT_EQ(count_of(html, "<td class=\"num\">65.00%</td>"), 1u) << html;
  EXPECT_NE(html.find("<td>Test CPU &lt;x&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>9.9.9</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">4</td></tr>"), std::string::npos);
  // Self-contained: nothing fetched, nothing run.
  for (const char* outside : {"http://", "https://", "<script", "<link", "url("})
    EXPECT_EQ(html.find(outside), std::string::npos) << outside;
  EXPECT_NE(html.find("<meta name=\"viewport\""), std::string::npos);
}

TEST(Report, CommandWritesTheFolderReportAndRefusesInOneLine) {
  testing::TempDir dir;
  const std::string runs = write_sweep(dir);
  const auto made = testing::run_cli({"report", runs});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_EQ(made.out, "Report: " + runs + "/report.html\n");
  EXPECT_NE(testing::read_text(runs + "/report.html").find("<h2>Results</h2>"), std::string::npos);
  const auto before = testing::snapshot(dir.path());
  testing::expect_one_line_error(testing::run_cli({"report", runs, runs + "/base-1"}), 2,
                                 "report: --out FILE is needed for several paths", "two paths");
  testing::expect_one_line_error(testing::run_cli({"report", dir / "nowhere"}), 2, dir / "nowhere",
                                 "missing folder");
  testing::expect_one_line_error(
      testing::run_cli({"report", runs, "--baseline", "nope", "--out", dir / "r.html"}), 2, "nope",
      "unknown baseline");
  testing::expect_one_line_error(
      testing::run_cli({"report", runs, "--columns", "bogus", "--out", dir / "r.html"}), 2,
      "--columns bogus: no column 'bogus'", "unknown column");
  EXPECT_EQ(testing::snapshot(dir.path()), before);
  const auto elsewhere = testing::run_cli({"report", runs, "--out", dir / "page.html"});
  ASSERT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  EXPECT_TRUE(fs::exists(dir / "page.html"));
}

}  // namespace
}  // namespace cifar_exp
