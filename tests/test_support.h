// Helpers shared by the tests: temporary folders, generated CIFAR-10 files, running the CLI.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/training/callback.h"

namespace cifar_exp::testing {

// A fresh folder under the system temp dir, removed (with contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Images whose class is learnable from colour: class c is a fixed colour plus uniform noise.
struct SyntheticSplit {
  torch::Tensor images;  // uint8 N x 3 x 32 x 32
  torch::Tensor labels;  // int64 N
};
SyntheticSplit make_learnable_split(int64_t n, uint64_t seed);

// Writes a complete CIFAR-10 binary folder: train records spread over data_batch_1..5,
// test_batch.bin and batches.meta.txt. Returns the training split as written.
SyntheticSplit write_cifar10_folder(const std::string& dir, int64_t n_train, int64_t n_test,
                                    uint64_t seed = 1);

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);

// The run folders in `parent`, sorted; hidden entries (.locks) are not runs.
std::vector<std::string> run_folders(const std::string& parent);

// The TensorBoard event files in `dir` (not its sub-folders), by name.
std::vector<std::string> event_files(const std::string& dir);

// A run folder's metrics.csv without its timing columns (seconds, images_per_second, found by
// name), which vary from run to run: what two runs meant to be identical must share.
std::string metrics_without_times(const std::string& run_dir);

// A callback that requests a stop at the end of batch `batch` of epoch `epoch`.
struct StopAt : TrainingCallback {
  StopAt(int64_t epoch, int64_t batch, std::atomic<bool>& stop)
      : epoch_(epoch), batch_(batch), stop_(stop) {}
  void on_batch_end(const BatchProgress& p) override {
    if (p.epoch == epoch_ && p.batch == batch_) stop_ = true;
  }
  int64_t epoch_, batch_;
  std::atomic<bool>& stop_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a program: argv[0] with the rest as its arguments (shell-quoted here), after the shell
// words `prefix` (e.g. "prlimit ... "), with no input.
CommandResult run_program(const std::vector<std::string>& argv, const std::string& prefix = "");
// Runs the built cifar-exp binary with `args` (shell-quoted here).
CommandResult run_cli(const std::vector<std::string>& args);
// The same with the size of any file it writes limited to `max_file_bytes` (RLIMIT_FSIZE, as
// `ulimit -f` sets it): writes beyond that fail with EFBIG, as on a full disk.
CommandResult run_cli_with_file_limit(const std::vector<std::string>& args, int64_t max_file_bytes);

// A documented exit code and one line naming what is wrong, with no library text in it.
void expect_one_line_error(const CommandResult& r, int exit_code, const std::string& message_part,
                           const std::string& label);

// Every file under `dir` by relative name, with its size and CRC-32: what a refused command must
// leave exactly as it was.
std::map<std::string, std::pair<uintmax_t, uint32_t>> snapshot(const std::string& dir);

// Sets an environment variable for a scope, restoring what it was after (unset if it was).
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

}  // namespace cifar_exp::testing
