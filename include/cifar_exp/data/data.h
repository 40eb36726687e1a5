// CIFAR-10 binary-version reader, modelled on torch::data::datasets::MNIST: a split is held whole
// as one uint8 tensor (N x 3 x 32 x 32) plus int64 labels, and batches are gathered from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace cifar_exp {

constexpr int64_t kImageSize = 32;
constexpr int64_t kChannels = 3;
constexpr int64_t kNumClasses = 10;
constexpr int64_t kRecordBytes = 1 + kChannels * kImageSize * kImageSize;  // 3,073

// Where the data is, first found: --data-dir, $CIFAR10_DIR, the config's data.dir,
// data/cifar-10-batches-bin.
std::string resolve_data_dir(const std::optional<std::string>& cli_dir,
                             const std::string& config_dir);

// {file: {"size", "crc32"}} of each CIFAR-10 file in `data_dir` (those missing left out), from
// `cache_dir`'s data-checksums.json when a file's size and modification time have not changed
// since it was checksummed (new checksums kept there when `update_cache`; "" = no cache).
// provenance's "data_files", and part of a run's identity (run_identity.h).
nlohmann::json data_file_checksums(const std::string& data_dir, const std::string& cache_dir,
                                   bool update_cache = true);

// Names of the files that make up a split, in the order their records are concatenated.
std::vector<std::string> split_files(bool train);

class Cifar10 : public torch::data::datasets::Dataset<Cifar10> {
 public:
  enum class Mode { kTrain, kTest };

  // Reads the split from `root`; `limit` keeps only the first N records (in file order).
  // Throws DataError naming the file (and record) on any problem.
  explicit Cifar10(const std::string& root, Mode mode = Mode::kTrain,
                   std::optional<int64_t> limit = std::nullopt);

  torch::data::Example<> get(size_t index) override;
  torch::optional<size_t> size() const override;

  const torch::Tensor& images() const { return images_; }    // uint8, N x 3 x 32 x 32
  const torch::Tensor& targets() const { return targets_; }  // int64, N
  const std::vector<std::string>& class_names() const { return class_names_; }

  // Moves both tensors to `device` once, so batches never cross the bus.
  void to(const torch::Device& device);

 private:
  torch::Tensor images_, targets_;
  std::vector<std::string> class_names_;
};

// Class names from batches.meta.txt when present and well-formed, else the standard ten.
std::vector<std::string> read_class_names(const std::string& root);
// The same from the file's text: ten non-empty lines, else the standard ten.
std::vector<std::string> parse_class_names(const std::string& text);

// The pieces of the reader, also used on bytes held in memory (and by the fuzz target).
struct Cifar10Split {
  torch::Tensor images;  // uint8 N x 3 x 32 x 32
  torch::Tensor labels;  // int64 N
};
// Records in a file of `bytes` bytes; DataError naming `source` when empty or not whole records.
int64_t records_in(uint64_t bytes, const std::string& source);
// DataError naming `source` and the first record (0-based) whose label is not 0..9.
void check_labels(const torch::Tensor& records, const std::string& source);
// Splits raw records (uint8 N x 3,073) into images and labels; no checks.
Cifar10Split decode_records(const torch::Tensor& records);
// One whole batch file's bytes, checked (size, labels) and decoded.
Cifar10Split decode_cifar10_batch(const uint8_t* bytes, size_t size, const std::string& source);

// Checks that every file of both splits exists and holds whole records, without reading them.
void check_data_files(const std::string& root);

// Writes `images` (uint8 N x 3 x 32 x 32) and `labels` as one CIFAR-10 binary file. Used by
// tests and tools that generate data.
void write_cifar10_file(const std::string& path, const torch::Tensor& images,
                        const torch::Tensor& labels);

// Gathers the given rows and scales them to float in [0, 1] on the data's device.
torch::Tensor to_float_batch(const torch::Tensor& images_uint8, const torch::Tensor& indices);

}  // namespace cifar_exp
