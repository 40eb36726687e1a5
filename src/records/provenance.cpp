// Provenance of a run (see provenance.h).
#include "cifar_exp/records/provenance.h"

#include <dlfcn.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <ATen/Version.h>

#include "cifar_exp/build_info.h"
#include "cifar_exp/config/config.h"
#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/models/kernels/onednn_backbone.h"

namespace fs = std::filesystem;

namespace cifar_exp {

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg, line;
  // Shell-quoted where needed (no std::regex: arguments can be long; see config.cpp).
  const auto plain = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_./:=+,@%-").find(c) != std::string_view::npos;
  };
  while (std::getline(in, arg, '\0')) {
    if (!line.empty()) line += ' ';
    if (!arg.empty() && std::all_of(arg.begin(), arg.end(), plain)) {
      line += arg;
      continue;
    }
    line += '\'';
    for (const char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

std::string blas_name() {
  // What the process has loaded, not what libtorch was compiled against: Debian's libtorch says
  // "generic" and runs whichever libblas.so.3 the alternatives system points at.
  std::ifstream maps("/proc/self/maps");
  std::string loaded;
  for (std::string line; std::getline(maps, line);) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = fs::path(path).filename().string();
    const bool blas = file.find("blas") != std::string::npos || file.rfind("libmkl", 0) == 0 ||
                      file.rfind("libblis", 0) == 0;
    if (blas && file.find("cublas") == std::string::npos &&
        file.find("hipblas") == std::string::npos) {
      loaded = path;
      break;
    }
  }
  std::string name;
  // OpenBLAS names itself, its version, core and threads through its own API when present.
  using ConfigFn = char* (*)();
  using ThreadsFn = int (*)();
  if (auto config = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    name = config();
    if (auto threads =
            reinterpret_cast<ThreadsFn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
      name += ", " + std::to_string(threads()) + " threads";
    }
  } else if (loaded.find("mkl") != std::string::npos) {
    name = "MKL";
  } else if (loaded.find("blis") != std::string::npos) {
    name = "BLIS";
  } else if (loaded.find("atlas") != std::string::npos) {
    name = "ATLAS";
  } else if (!loaded.empty()) {
    name = "reference BLAS";
  } else {
    // No separate BLAS library (e.g. MKL linked statically into PyPI's libtorch): what
    // libtorch reports.
    const std::string config = at::show_config();
    const std::string key = "BLAS_INFO=";
    const size_t start = config.find(key);
    if (start == std::string::npos) return "unknown";
    const size_t value = start + key.size();
    const size_t end = config.find_first_of(", \t\r\n", value);
    name = config.substr(value, end == std::string::npos ? end : end - value) + " (built in)";
    return name;
  }
  return loaded.empty() ? name : name + ": " + loaded;
}

nlohmann::json provenance(const std::string& data_dir, const std::string& cache_dir,
                          const torch::Device& device) {
  const DeviceReport report = device_report();
  const ProcessIdentity process = ProcessIdentity::current();
  return {
      {"cifar_exp_version", CIFAR_EXP_VERSION},
      {"git_commit", CIFAR_EXP_GIT_COMMIT},
      {"command_line", command_line()},
      {"host", process.host},
      {"cpu", report.cpu},
      {"gpu", device.is_cuda() ? nlohmann::json(device_name(device)) : nlohmann::json(nullptr)},
      {"libtorch", report.libtorch},
      {"cuda_runtime",
       report.cuda_runtime.empty() ? nlohmann::json(nullptr) : nlohmann::json(report.cuda_runtime)},
      {"blas", blas_name()},
      // libtorch's own oneDNN (its CPU convolutions), and the one our backbone links.
      {"onednn",
       {{"libtorch", first_line(at::get_mkldnn_version())}, {"backbone", onednn_description()}}},
      {"data_files", data_file_checksums(data_dir, cache_dir)}};
}

}  // namespace cifar_exp
