// The CIFAR-10 binary reader and writer (data.h).
#include "cifar_exp/data/data.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cifar_exp/config/config.h"
#include "cifar_exp/config/defaults.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

std::string crc32_hex(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

}  // namespace
namespace {

std::string how_to_get_data(const std::string& root) {
  return "get CIFAR-10 with: " + script_path("download_cifar10.sh") + " " + root;
}

// Size of one batch file in records, after checking it holds whole records.
int64_t record_count(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw DataError(file.string() + ": file not found (" +
                    how_to_get_data(file.parent_path().string()) + ")");
  }
  const auto bytes = fs::file_size(file, ec);
  if (ec) throw DataError(file.string() + ": cannot read size: " + ec.message());
  return records_in(bytes, file.string());
}

}  // namespace

int64_t records_in(uint64_t bytes, const std::string& source) {
  if (bytes == 0) throw DataError(source + ": file is empty");
  if (bytes % kRecordBytes != 0) {
    throw DataError(source + ": size " + std::to_string(bytes) +
                    " bytes is not a whole number of 3,073-byte records (truncated download?)");
  }
  return int64_t(bytes / kRecordBytes);
}

void check_labels(const torch::Tensor& records, const std::string& source) {
  // Labels must be 0..9; report the first bad record by its index within `source`.
  auto labels = records.select(1, 0);
  auto bad = (labels >= kNumClasses).nonzero();
  if (bad.size(0) > 0) {
    const int64_t record = bad[0][0].item<int64_t>();
    throw DataError(source + ": record " + std::to_string(record) + " has label " +
                    std::to_string(labels[record].item<int>()) + ", expected 0..9");
  }
}

Cifar10Split decode_records(const torch::Tensor& records) {
  const int64_t n = records.size(0);
  return {records.narrow(1, 1, kRecordBytes - 1)
              .reshape({n, kChannels, kImageSize, kImageSize})
              .contiguous(),
          records.select(1, 0).to(torch::kInt64)};
}

Cifar10Split decode_cifar10_batch(const uint8_t* bytes, size_t size, const std::string& source) {
  const int64_t n = records_in(size, source);
  auto records = torch::empty({n, kRecordBytes}, torch::kUInt8);
  std::memcpy(records.data_ptr<uint8_t>(), bytes, size);
  check_labels(records, source);
  return decode_records(records);
}

std::string resolve_data_dir(const std::optional<std::string>& cli_dir,
                             const std::string& config_dir) {
  if (cli_dir && !cli_dir->empty()) return *cli_dir;
  if (const char* env = std::getenv("CIFAR10_DIR"); env && *env) return env;
  if (!config_dir.empty()) return config_dir;
  return kDefaultDataDir;
}

std::vector<std::string> split_files(bool train) {
  if (!train) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
          "data_batch_5.bin"};
}

void check_data_files(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw DataError(root + ": CIFAR-10 data folder not found (" + how_to_get_data(root) + ")");
  }
  for (bool train : {true, false}) {
    for (const auto& name : split_files(train)) record_count(fs::path(root) / name);
  }
}

std::vector<std::string> read_class_names(const std::string& root) {
  std::ifstream in(fs::path(root) / "batches.meta.txt");
  std::stringstream text;
  if (in) text << in.rdbuf();
  return parse_class_names(text.str());
}

std::vector<std::string> parse_class_names(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  // Names end up in JSON and CSV files: printable ASCII only (CIFAR-10's are), else the defaults.
  auto printable = [](const std::string& name) {
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  };
  if (names.size() != size_t(kNumClasses) || !std::all_of(names.begin(), names.end(), printable)) {
    names = {"airplane", "automobile", "bird",  "cat",  "deer",
             "dog",      "frog",       "horse", "ship", "truck"};
  }
  return names;
}

Cifar10::Cifar10(const std::string& root, Mode mode, std::optional<int64_t> limit) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw DataError(root + ": CIFAR-10 data folder not found (" + how_to_get_data(root) + ")");
  }
  const bool train = mode == Mode::kTrain;
  // Sizes first, so a missing or truncated file is reported before anything is read.
  std::vector<std::pair<fs::path, int64_t>> files;
  int64_t total = 0;
  for (const auto& name : split_files(train)) {
    const fs::path file = fs::path(root) / name;
    files.emplace_back(file, record_count(file));
    total += files.back().second;
  }
  const int64_t wanted = limit ? std::min(*limit, total) : total;

  // One contiguous buffer of raw records; label and pixels are split with tensor views.
  auto raw = torch::empty({wanted, kRecordBytes}, torch::kUInt8);
  int64_t filled = 0;
  for (const auto& [file, count] : files) {
    if (filled == wanted) break;
    const int64_t take = std::min(count, wanted - filled);
    std::ifstream in(file, std::ios::binary);
    in.read(reinterpret_cast<char*>(raw[filled].data_ptr<uint8_t>()), take * kRecordBytes);
    if (!in) throw DataError(file.string() + ": read failed");
    check_labels(raw.narrow(0, filled, take), file.string());
    filled += take;
  }
  auto split = decode_records(raw);
  images_ = split.images;
  targets_ = split.labels;
  class_names_ = read_class_names(root);
}

torch::data::Example<> Cifar10::get(size_t index) {
  return {images_[int64_t(index)], targets_[int64_t(index)]};
}

torch::optional<size_t> Cifar10::size() const { return size_t(images_.size(0)); }

void Cifar10::to(const torch::Device& device) {
  // One plain copy per run; not through pinned memory, whose staging block the host caching
  // allocator would keep for the life of the process (pinning is for per-batch uploads).
  images_ = images_.to(device);
  targets_ = targets_.to(device);
}

void write_cifar10_file(const std::string& path, const torch::Tensor& images,
                        const torch::Tensor& labels) {
  const int64_t n = images.size(0);
  auto raw = torch::empty({n, kRecordBytes}, torch::kUInt8);
  raw.select(1, 0).copy_(labels.to(torch::kUInt8));
  raw.narrow(1, 1, kRecordBytes - 1).copy_(images.to(torch::kUInt8).reshape({n, -1}));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(raw.data_ptr<uint8_t>()), n * kRecordBytes);
  if (!out) throw OutputError(path + ": cannot write file");
}

torch::Tensor to_float_batch(const torch::Tensor& images_uint8, const torch::Tensor& indices) {
  return images_uint8.index_select(0, indices).to(torch::kFloat32).div_(255.0);
}

nlohmann::json data_file_checksums(const std::string& data_dir, const std::string& cache_dir,
                                   bool update_cache) {
  const std::string cache_path =
      cache_dir.empty() ? "" : (fs::path(cache_dir) / "data-checksums.json").string();
  nlohmann::json cache = nlohmann::json::object();
  std::error_code ec;
  if (!cache_path.empty() && fs::is_regular_file(cache_path, ec)) {
    // A damaged (or hand-edited, or too deeply nested) cache is rebuilt.
    try {
      const auto doc = try_parse_json(read_file(cache_path));
      if (doc && doc->is_object()) cache = *doc;
    } catch (const Error&) {
    }
  }
  nlohmann::json files = nlohmann::json::object();
  bool changed = false;
  std::vector<std::string> names{"batches.meta.txt"};
  for (bool train : {true, false}) {
    for (const auto& f : split_files(train)) names.push_back(f);
  }
  for (const auto& name : names) {
    const fs::path path = fs::path(data_dir) / name;
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) continue;
    const std::string key = fs::absolute(path, ec).string();
    const int64_t size = info.st_size,
                  mtime = info.st_mtim.tv_sec * 1000000000LL + info.st_mtim.tv_nsec;
    const nlohmann::json* cached = cache.contains(key) ? &cache[key] : nullptr;
    const auto cached_integer = [&](const char* field) {
      return cached && cached->is_object() && cached->contains(field) &&
                     (*cached)[field].is_number_integer()
                 ? (*cached)[field].get<int64_t>()
                 : int64_t(-1);
    };
    if (cached_integer("size") != size || cached_integer("mtime_ns") != mtime ||
        !cached->contains("crc32") || !(*cached)["crc32"].is_string()) {
      cache[key] = {
          {"size", size}, {"mtime_ns", mtime}, {"crc32", crc32_hex(crc32_of(read_file(path)))}};
      changed = true;
    }
    files[name] = {{"size", size}, {"crc32", cache[key]["crc32"]}};
  }
  if (changed && update_cache && !cache_path.empty()) {
    try {
      fs::create_directories(cache_dir, ec);
      write_file_atomic(cache_path, json_text(cache, 2) + "\n");
    } catch (const OutputError&) {
      // Checksums are recomputed next time; the run itself is not affected.
    }
  }
  return files;
}

}  // namespace cifar_exp
