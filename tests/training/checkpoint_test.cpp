// Checkpoints: a run stopped anywhere and resumed ends exactly like one that never stopped.
#include "cifar_exp/training/checkpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cifar_exp/data/augmentation.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/training/callbacks.h"
#include "cifar_exp/training/fit.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

namespace fs = std::filesystem;

using testing::StopAt;

struct Data {
  torch::Tensor train_x, train_y, test_x, test_y;
};

AugmentationConfig some_augmentation() {
  AugmentationConfig a;
  a.enabled = true;
  a.rotation_range = 15;
  a.width_shift_range = 0.1;
  a.horizontal_flip = true;
  return a;
}

void expect_same_metrics(const std::vector<EpochMetrics>& a, const std::vector<EpochMetrics>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    // Exactly equal, not close: the resumed run repeats the same arithmetic.
    EXPECT_EQ(a[i].train_loss, b[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].train_accuracy, b[i].train_accuracy) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << i + 1;
    EXPECT_EQ(a[i].learning_rate, b[i].learning_rate) << "epoch " << i + 1;
  }
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
}

// Trains a fresh small CNN with augmentation for 3 epochs, optionally stopping at (epoch, batch)
// and resuming from the checkpoint in a brand-new model and augmenter built with another seed
// (so that only the checkpoint can make the results match).
struct SmallCnnRun {
  History history;
  SmallCnn model{nullptr};
};

SmallCnnRun train_small_cnn(const std::string& checkpoint, int64_t stop_epoch, int64_t stop_batch) {
  auto train = testing::make_learnable_split(320, 21);
  auto test = testing::make_learnable_split(80, 22);
  auto run_once = [&](uint64_t seed, const std::string& resume_from, TrainingCallback* cb,
                      const std::atomic<bool>* stop) {
    torch::manual_seed(seed);
    SmallCnnRun run;
    run.model = SmallCnn();
    Augmenter augmenter(some_augmentation(), seed);
    FitOptions options;
    options.training.epochs = 3;
    options.training.batch_size = 32;
    options.training.eval_batch_size = 40;
    options.augment = [&](const torch::Tensor& x) { return augmenter(x); };
    options.augment_generator = augmenter.generator();
    options.checkpoint_path = checkpoint;
    options.resume_from = resume_from;
    options.stop_requested = stop;
    if (cb) options.callbacks = {cb};
    run.history = fit(*run.model, train.images, train.labels, test.images, test.labels, options);
    return run;
  };
  if (stop_epoch == 0) return run_once(7, "", nullptr, nullptr);
  std::atomic<bool> stop{false};
  StopAt stop_at(stop_epoch, stop_batch, stop);
  auto first = run_once(7, "", &stop_at, &stop);
  EXPECT_TRUE(first.history.interrupted);
  EXPECT_EQ(first.history.stopped_at_epoch, stop_epoch);
  EXPECT_EQ(first.history.stopped_at_batch, stop_batch);
  EXPECT_EQ(int64_t(first.history.epochs.size()), stop_epoch - 1);
  return run_once(999, checkpoint, nullptr, nullptr);
}

TEST(Checkpoint, ResumedMidEpochEqualsUninterrupted) {
  testing::TempDir dir;
  auto reference = train_small_cnn(dir / "ref.pt", 0, 0);
  ASSERT_FALSE(reference.history.interrupted);
  ASSERT_EQ(reference.history.epochs.size(), 3u);
  auto resumed = train_small_cnn(dir / "stop.pt", 2, 4);
  EXPECT_FALSE(resumed.history.interrupted);
  expect_same_metrics(reference.history.epochs, resumed.history.epochs);
  expect_same_parameters(*reference.model, *resumed.model);
  EXPECT_EQ(reference.history.last_validation.loss, resumed.history.last_validation.loss);
  EXPECT_TRUE(torch::equal(reference.history.last_validation.confusion,
                           resumed.history.last_validation.confusion));
}

TEST(Checkpoint, ResumedAtAnEpochBoundaryEqualsUninterrupted) {
  testing::TempDir dir;
  auto reference = train_small_cnn("", 0, 0);
  // Stopping after the last batch of epoch 1 leaves a mid-epoch checkpoint at batch 10 of 10.
  auto resumed = train_small_cnn(dir / "stop.pt", 1, 10);
  expect_same_metrics(reference.history.epochs, resumed.history.epochs);
  expect_same_parameters(*reference.model, *resumed.model);
}

TEST(Checkpoint, StoppedInTheLastBatchOfAnEpochKeepsItsLearningRate) {
  // Cosine: each step has its own rate, and an epoch's learning_rate is its last step's. A stop
  // requested in the last batch of epoch 2 leaves a checkpoint at batch 16 of 16; the resumed
  // run trains no step of epoch 2, so the rate must come from the checkpoint.
  testing::TempDir dir;
  torch::manual_seed(3);
  const auto features = torch::randn({256, 20});
  const auto labels = torch::randint(0, 10, {256}, torch::kInt64);
  auto run = [&](const std::string& resume, std::atomic<bool>* stop, TrainingCallback* cb) {
    torch::manual_seed(5);
    DenseHead head(20, 16, 0.0);
    FitOptions options;
    options.training.epochs = 3;
    options.training.batch_size = 16;
    options.training.optimizer = Optimizer::kSgd;
    options.training.learning_rate = 0.1;
    options.training.lr_schedule = LrSchedule::kCosine;
    options.checkpoint_path = dir / "head.pt";
    options.resume_from = resume;
    options.stop_requested = stop;
    if (cb) options.callbacks = {cb};
    return fit(*head, features, labels, features, labels, options);
  };
  const History reference = run("", nullptr, nullptr);
  ASSERT_EQ(reference.epochs.size(), 3u);
  // The cosine rate of step 32 of 48 (0-based 31, epoch 2's last): 0.1 x (1 + cos(pi 31/48))/2.
  EXPECT_NEAR(reference.epochs[1].learning_rate, 0.1 * (1 + std::cos(M_PI * 31 / 48)) / 2, 1e-12);
  std::atomic<bool> stop{false};
  StopAt stop_at(2, 16, stop);
  const History first = run("", &stop, &stop_at);
  ASSERT_TRUE(first.interrupted);
  EXPECT_EQ(first.stopped_at_batch, 16);
  EXPECT_EQ(peek_checkpoint(dir / "head.pt").learning_rate, reference.epochs[1].learning_rate);
  // The metrics files a resumed run writes (MetricsWriter, as `resume` sets it up).
  fs::create_directories(dir / "run");
  MetricsWriter metrics(dir / "run", first.epochs);
  const History resumed = run(dir / "head.pt", nullptr, &metrics);
  expect_same_metrics(reference.epochs, resumed.epochs);
  std::istringstream jsonl(testing::read_text(dir / "run/metrics.jsonl"));
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(jsonl, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  const nlohmann::json& second = rows[1];
  EXPECT_EQ(second["epoch"], 2);
  ASSERT_TRUE(second["learning_rate"].is_number()) << second;
  EXPECT_EQ(second["learning_rate"].get<double>(), reference.epochs[1].learning_rate);
  const auto csv = EpochMetrics::from_csv(testing::read_text(dir / "run/metrics.csv"));
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_NEAR(csv[1].learning_rate, reference.epochs[1].learning_rate, 1e-10);
}

TEST(Checkpoint, DropoutStreamIsRestored) {
  // A dense head with dropout on float features: dropout masks come from the global generator.
  testing::TempDir dir;
  torch::manual_seed(3);
  auto features = torch::randn({256, 20});
  auto labels = torch::randint(0, 10, {256}, torch::kInt64);
  auto run = [&](uint64_t seed, const std::string& resume, std::atomic<bool>* stop,
                 TrainingCallback* cb) {
    torch::manual_seed(seed);
    DenseHead head(20, 16, 0.5);
    FitOptions options;
    options.training.epochs = 2;
    options.training.batch_size = 16;
    options.checkpoint_path = dir / "head.pt";
    options.resume_from = resume;
    options.stop_requested = stop;
    if (cb) options.callbacks = {cb};
    auto h = fit(*head, features, labels, features, labels, options);
    return std::make_pair(h, head);
  };
  auto [reference, reference_head] = run(5, "", nullptr, nullptr);
  std::atomic<bool> stop{false};
  StopAt stop_at(1, 7, stop);
  run(5, "", &stop, &stop_at);
  auto [resumed, resumed_head] = run(6, dir / "head.pt", nullptr, nullptr);
  expect_same_metrics(reference.epochs, resumed.epochs);
  expect_same_parameters(*reference_head, *resumed_head);
}

TEST(Checkpoint, WrittenAfterEveryEpochWithPosition) {
  testing::TempDir dir;
  train_small_cnn(dir / "c.pt", 0, 0);
  const TrainingState state = peek_checkpoint(dir / "c.pt");
  EXPECT_EQ(state.epoch, 4);  // all three epochs done
  EXPECT_EQ(state.batches_done, 0);
  ASSERT_EQ(state.epochs.size(), 3u);
  EXPECT_EQ(state.epochs[2].epoch, 3);
  EXPECT_TRUE(state.augment_rng_state.defined());
  EXPECT_TRUE(state.last_evaluation.confusion.defined());
  // Beside it: its checksum and the previous epoch's checkpoint with its own; nothing temporary.
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    files.insert(e.path().filename().string());
  }
  EXPECT_EQ(files, (std::set<std::string>{"c.pt", "c.pt.crc32", "c.prev.pt", "c.prev.pt.crc32"}));
  EXPECT_EQ(peek_checkpoint(dir / "c.prev.pt").epoch, 3);
}

TEST(Checkpoint, BadFilesAreNamed) {
  testing::TempDir dir;
  SmallCnn model;
  torch::optim::Adam optimizer(model->parameters());
  try {
    load_checkpoint(dir / "missing.pt", *model, optimizer);
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), dir / "missing.pt" + ": checkpoint not found");
  }
  testing::write_text(dir / "unchecked.pt", "not a checkpoint");
  try {
    load_checkpoint(dir / "unchecked.pt", *model, optimizer);
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), missing_checksum(dir / "unchecked.pt"));
    EXPECT_NE(std::string(e.what()).find("unchecked.pt.crc32"), std::string::npos);
  }
  write_checked_file(dir / "junk.pt", "not a checkpoint", /*keep_previous=*/false);
  try {
    load_checkpoint(dir / "junk.pt", *model, optimizer);
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir / "junk.pt" + ": cannot read checkpoint", 0), 0u)
        << e.what();
  }
  // A checkpoint of another model.
  DenseHead head(8, 4, 0.0);
  torch::optim::Adam head_optimizer(head->parameters());
  TrainingState state;
  state.cpu_rng_state = torch::zeros({1}, torch::kUInt8);
  save_checkpoint(dir / "head.pt", *head, head_optimizer, state);
  try {
    load_checkpoint(dir / "head.pt", *model, optimizer);
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit this run's model"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(check_checkpoint_fits(dir / "head.pt", *model), OutputError);
  check_checkpoint_fits(dir / "head.pt", *head);  // its own model: no error
  fs::remove(dir / "head.pt.crc32");
  EXPECT_THROW(check_checkpoint_fits(dir / "head.pt", *head), OutputError);
}

}  // namespace
}  // namespace cifar_exp
