// Tests for run_summary.h: the metrics and summary schema to and from its files.
#include "cifar_exp/records/run_summary.h"

#include <cmath>

#include <gtest/gtest.h>

#include "cifar_exp/io/errors.h"

namespace cifar_exp {
namespace {

using nlohmann::json;

EpochMetrics sample_epoch(int64_t epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = 1.25;
  m.train_accuracy = 0.5;
  m.val_loss = 1.5;
  m.val_accuracy = 0.375;
  m.seconds = 2.5;
  m.images_per_second = 1000.5;
  m.learning_rate = 2.5e-4;
  return m;
}

TEST(EpochMetrics, CsvRowMatchesItsHeader) {
  EXPECT_EQ(EpochMetrics::csv_header(),
            "epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,val_error,seconds,"
            "images_per_second,learning_rate");
  EXPECT_EQ(sample_epoch(3).csv_row(),
            "3,1.250000,0.500000,0.500000,1.500000,0.375000,0.625000,2.500,1000.5,0.0002500000");
}

TEST(EpochMetrics, ReadsCsvByHeaderNameNotPosition) {
  const std::string text =
      "val_accuracy,epoch,extra,train_loss\n"
      "0.25,1,x,2.5\n"
      "0.5,2,y,1.5\n";
  const auto rows = EpochMetrics::from_csv(text);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].epoch, 2);
  EXPECT_DOUBLE_EQ(rows[1].val_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(rows[0].train_loss, 2.5);
  EXPECT_TRUE(std::isnan(rows[0].seconds)) << "no such column: not recorded";
  EXPECT_TRUE(rows[0].to_json().at("seconds").is_null());
}

TEST(EpochMetrics, JsonAndCheckpointRowsRoundTrip) {
  const EpochMetrics m = sample_epoch(4);
  const json j = m.to_json();
  EXPECT_DOUBLE_EQ(j.at("val_error").get<double>(), 0.625);
  const EpochMetrics back = EpochMetrics::from_json(j);
  EXPECT_EQ(back.to_json(), j);
  EXPECT_EQ(EpochMetrics::from_row(m.to_row()).to_json(), j);
  EXPECT_EQ(int64_t(m.to_row().size()), EpochMetrics::row_size());
  // An older checkpoint's shorter row (before a metric was appended): that metric not recorded.
  std::vector<double> older = m.to_row();
  older.pop_back();
  const EpochMetrics shorter = EpochMetrics::from_row(older);
  EXPECT_EQ(shorter.epoch, 4);
  EXPECT_DOUBLE_EQ(shorter.images_per_second, m.images_per_second);
  EXPECT_TRUE(std::isnan(shorter.learning_rate));
  const auto from_csv = EpochMetrics::from_csv(EpochMetrics::csv_header() + "\n" + m.csv_row());
  ASSERT_EQ(from_csv.size(), 1u);
  EXPECT_EQ(from_csv[0].epoch, 4);
  EXPECT_DOUBLE_EQ(from_csv[0].images_per_second, 1000.5);
}

RunSummary completed_summary() {
  RunSummary s;
  s.name = "no_aug_no_tl";
  s.status = "completed";
  s.model = "small_cnn";
  s.transfer = "none";
  s.epochs = s.epochs_completed = 10;
  s.batch_size = 64;
  s.precision = "fp32";
  s.seed = 42;
  s.trainable_params = 122570;
  s.train_images = 50000;
  s.test_images = 10000;
  s.device = "cpu";
  s.threads = 2;
  s.process.host = "h";
  s.process.pid = 7;
  s.reference_accuracy = 0.709;
  s.class_names = {"a", "b"};
  s.provenance = {{"git_commit", "abc"}};
  s.last_val_accuracy = 0.7;
  s.train_seconds = 100.0;
  s.finished_at = "2026-11-29T12:00:00Z";
  SummaryResults r;
  r.test_accuracy = 0.7;
  r.test_error = 0.3;
  r.best_epoch = 9;
  r.best_val_accuracy = 0.71;
  r.per_class_accuracy = {0.5, 0.9};
  r.confusion_matrix = {{1, 1}, {0, 9}};
  s.results = r;
  return s;
}

TEST(RunSummary, RoundTripsThroughJson) {
  const RunSummary s = completed_summary();
  const json j = s.to_json();
  EXPECT_EQ(j.at("weights"), nullptr);
  EXPECT_EQ(j.at("test_accuracy"), 0.7);
  EXPECT_EQ(j.at("confusion_matrix"), json::parse("[[1,1],[0,9]]"));
  EXPECT_FALSE(j.contains("error"));
  EXPECT_FALSE(j.contains("stopped_at"));
  EXPECT_EQ(RunSummary::from_json(j).to_json(), j);
}

TEST(RunSummary, LeavesOutWhatARunningSummaryDoesNotHaveYet) {
  RunSummary s;
  s.name = "x";
  const json j = s.to_json();
  EXPECT_EQ(j.at("status"), "running");
  for (const char* key : {"test_accuracy", "train_seconds", "finished_at", "last_val_accuracy"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
  RunSummary interrupted = s;
  interrupted.status = "interrupted";
  interrupted.stopped_at = {{2, 17}};
  EXPECT_EQ(interrupted.to_json().at("stopped_at"), json::parse(R"({"epoch":2,"batch":17})"));
  EXPECT_EQ(RunSummary::from_json(interrupted.to_json()).stopped_at, interrupted.stopped_at);
}

TEST(RunSummary, ReadsOldFilesWithTheirDefaults) {
  // No status (first releases): completed. Missing and null fields keep their defaults.
  const auto s = RunSummary::from_json(
      json::parse(R"({"name": "old", "seed": null, "test_accuracy": 0.5, "epochs": 3})"));
  EXPECT_EQ(s.status, "completed");
  EXPECT_EQ(s.seed, 0);
  EXPECT_EQ(s.epochs, 3);
  ASSERT_TRUE(s.results.has_value());
  EXPECT_DOUBLE_EQ(s.results->test_error, 0.5);
  EXPECT_FALSE(RunSummary::from_json(json::object()).results.has_value());
}

// The message of the OutputError reading `text` as runs/a/summary.json throws.
std::string schema_error(const std::string& text) {
  try {
    RunSummary::from_json(json::parse(text), "runs/a/summary.json");
  } catch (const OutputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(RunSummary, AFieldOfAnotherTypeIsAnErrorNamingTheFileAndTheField) {
  EXPECT_EQ(schema_error(R"({"seed": "forty-two"})"),
            "runs/a/summary.json: field \"seed\": expected an integer, found a string "
            "\"forty-two\"");
  EXPECT_EQ(schema_error(R"({"seed": 4.5})"),
            "runs/a/summary.json: field \"seed\": expected an integer, found a number 4.5");
  EXPECT_EQ(schema_error(R"({"seed": 18446744073709551615})").find("expected an integer"),
            std::string("runs/a/summary.json: field \"seed\": ").size());
  EXPECT_EQ(schema_error(R"({"test_accuracy": [1]})"),
            "runs/a/summary.json: field \"test_accuracy\": expected a number, found a list");
  EXPECT_EQ(schema_error(R"({"augmentation": "yes"})"),
            "runs/a/summary.json: field \"augmentation\": expected true or false, found a string "
            "\"yes\"");
  EXPECT_EQ(schema_error(R"({"class_names": ["a", 1]})"),
            "runs/a/summary.json: field \"class_names\": expected a list of strings, found a list");
  EXPECT_EQ(schema_error(R"({"test_accuracy": 0.5, "confusion_matrix": [[1, 2], "x"]})"),
            "runs/a/summary.json: field \"confusion_matrix\": expected a table of integers, found "
            "a list");
  EXPECT_EQ(schema_error(R"({"process": {"pid": "12"}})"),
            "runs/a/summary.json: process: field \"pid\": expected an integer, found a string "
            "\"12\"");
  EXPECT_EQ(schema_error(R"({"stopped_at": 3})"),
            "runs/a/summary.json: field \"stopped_at\": expected an object, found a number 3");
  EXPECT_EQ(schema_error(R"([1, 2])"), "runs/a/summary.json: expected a JSON object, found a list");
  // Numbers not recorded are written as null, and read back as NaN.
  const auto s = RunSummary::from_json(
      json::parse(R"({"test_accuracy": 0.5, "per_class_accuracy": [0.5, null]})"));
  ASSERT_EQ(s.results->per_class_accuracy.size(), 2u);
  EXPECT_TRUE(std::isnan(s.results->per_class_accuracy[1]));
}

}  // namespace
}  // namespace cifar_exp
