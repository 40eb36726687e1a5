// Backbone features computed once per split and cached on disk; .npy output (feature_cache.h).
#include "cifar_exp/models/feature_cache.h"

#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/models/kernels/autocast.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// FNV-1a, 64 bit: plenty to tell inputs apart; this is a cache key, not a signature.
struct Fnv1a {
  uint64_t state = 1469598103934665603ULL;
  void add(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
      state ^= bytes[i];
      state *= 1099511628211ULL;
    }
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  void add(const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    add(c.data_ptr(), size_t(c.numel()) * c.element_size());
  }
};

// A cache entry whose checksum and shape are right, or nullopt (with a warning saying why) when
// it must be recomputed: corrupted, truncated, without a checksum, unreadable or mis-shaped.
std::optional<torch::Tensor> read_cache_entry(const std::string& path, int64_t rows,
                                              int64_t columns,
                                              const std::shared_ptr<spdlog::logger>& logger) {
  try {
    const CheckedFile file = read_checked_file(path);
    if (file.integrity != Integrity::kIntact) {
      logger->warn("{}: feature cache entry {}; recomputing", path,
                   file.integrity == Integrity::kCorrupted ? "is corrupted (" + file.problem + ")"
                                                           : std::string("has no checksum"));
      return std::nullopt;
    }
    std::istringstream bytes(file.content);
    torch::Tensor features;
    torch::load(features, bytes);
    if (features.dim() == 2 && features.size(0) == rows && features.size(1) == columns) {
      return features;
    }
    logger->warn("{}: cached features have the wrong shape; recomputing", path);
  } catch (const c10::Error& e) {
    logger->warn("{}: unreadable feature cache ({}); recomputing", path, first_line(e.what()));
  } catch (const OutputError& e) {
    logger->warn("{}; recomputing", e.what());
  }
  return std::nullopt;
}

}  // namespace

FeatureSource& feature_source_of(ClassifierImpl& model) {
  FeatureSource* source = model.feature_source();
  if (!source) {
    throw ConfigError("model " + model.kind() + " has no feature extractor (backbone) to run");
  }
  return *source;
}

torch::Tensor compute_features(ClassifierImpl& model, const torch::Tensor& images,
                               int64_t batch_size, const std::shared_ptr<spdlog::logger>& logger,
                               const std::string& what) {
  FeatureSource& source = feature_source_of(model);
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  batch_size = model.inference_batch_size(batch_size);
  std::vector<torch::Tensor> parts;
  int64_t next_report = n / 10;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t count = std::min(batch_size, n - start);
    auto x = images.narrow(0, start, count).to(torch::kFloat32).div_(255.0);
    try {
      parts.push_back(source.features(x).to(torch::kFloat32));
    } catch (const c10::Error& e) {
      if (!is_out_of_memory(e)) throw;
      throw OutOfMemoryError("out of memory on " + images.device().str() +
                             " computing backbone features for a batch of " +
                             std::to_string(count) +
                             " images: lower training.eval_batch_size (scaled to " +
                             std::to_string(batch_size) + " at this input size)");
    }
    if (logger && start + count >= next_report && start + count < n) {
      logger->info("  {} features: {}/{} images", what, start + count, n);
      next_report += n / 10;
    }
  }
  return torch::cat(parts, 0);
}

std::string feature_cache_key(FeatureSource& source, const torch::Tensor& images,
                              const torch::Tensor& host_images) {
  Fnv1a hash;
  // The device kind and its fp32 arithmetic (TF32 on a GPU rounds differently) are part of the
  // key: CPU and GPU features are close but not equal, and a run must not mix them silently.
  const auto device = images.device();
  const bool tf32 = device.is_cuda() && at::globalContext().allowTF32CuDNN();
  const bool bf16 = autocast_dtype(device.type()) == at::kBFloat16;
  const char* arithmetic = bf16 ? "bf16" : tf32 ? "tf32" : "fp32";
  hash.add("cifar-exp " + source.feature_name() + " features v2|" + source.feature_settings() +
           "|" + std::to_string(source.feature_size()) + "|" +
           c10::DeviceTypeName(device.type(), true) + "|" + arithmetic + "|");
  for (const auto& p : source.feature_parameters()) hash.add(p);
  // The host copy when given: hashing `images` on a GPU would copy them back first.
  if (host_images.defined()) {
    TORCH_CHECK(host_images.device().is_cpu() && host_images.sizes() == images.sizes() &&
                    host_images.scalar_type() == images.scalar_type(),
                "feature_cache_key: host_images must be the images' host copy");
    hash.add(host_images);
  } else {
    hash.add(images);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash.state));
  return hex;
}

torch::Tensor cached_features(ClassifierImpl& model, const torch::Tensor& images,
                              const std::string& cache_dir, int64_t batch_size,
                              const std::shared_ptr<spdlog::logger>& logger,
                              const std::string& split, bool* hit,
                              const torch::Tensor& host_images) {
  if (hit) *hit = false;
  if (cache_dir.empty()) return compute_features(model, images, batch_size, logger, split);
  FeatureSource& source = feature_source_of(model);
  const std::string path =
      (fs::path(cache_dir) /
       (source.feature_name() + "-" + feature_cache_key(source, images, host_images) + ".pt"))
          .string();
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    if (auto features = read_cache_entry(path, images.size(0), source.feature_size(), logger)) {
      if (hit) *hit = true;
      logger->info("{} features: read from cache {}", split, path);
      return features->to(images.device());
    }
  }
  logger->info("{} features: computing for {} images (cache {})", split, images.size(0), path);
  auto features = compute_features(model, images, batch_size, logger, split);
  fs::create_directories(cache_dir, ec);
  // A cache that cannot be written costs time next run, not this run's results.
  try {
    std::ostringstream bytes;
    torch::save(features.to(torch::kCPU), bytes);
    write_checked_file(path, bytes.str());
  } catch (const c10::Error& e) {
    logger->warn("{}: cannot write feature cache: {}", path, first_line(e.what()));
  } catch (const OutputError& e) {
    logger->warn("cannot write feature cache: {}", e.what());
  }
  return features;
}

void write_npy(const std::string& path, const torch::Tensor& matrix) {
  auto data = matrix.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(data.size(0)) + ", " + std::to_string(data.size(1)) + "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
  // ending in a newline.
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string bytes("\x93NUMPY\x01\x00", 8);
  const uint16_t length = uint16_t(header.size());
  bytes += char(length & 0xff);
  bytes += char(length >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(data.data_ptr()), size_t(data.numel()) * 4);
  write_file_atomic(path, bytes);
}

}  // namespace cifar_exp
