// Where a run's results come from, recorded in summary.json: which code (version, git commit),
// which command, which machine (host, CPU, GPU), which libraries (libtorch, BLAS) and which data
// (each CIFAR-10 file's size and CRC-32, computed once per file and cached).
#pragma once

#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace cifar_exp {

// The "provenance" object of summary.json. `cache_dir` (output.cache_dir; "" = no cache) keeps
// data-checksums.json, so each data file is read for its checksum once, not every run.
nlohmann::json provenance(const std::string& data_dir, const std::string& cache_dir,
                          const torch::Device& device);

// This process's command line, from /proc/self/cmdline, with arguments shell-quoted as needed.
std::string command_line();

// The BLAS library this process has loaded: OpenBLAS's own description (version, core,
// threads) and the library's path ("OpenBLAS 0.3.21 ... , 2 threads: /usr/lib/.../libblas.so.3"),
// else MKL, BLIS, ATLAS or reference BLAS and its path, else libtorch's built-in BLAS_INFO.
std::string blas_name();

}  // namespace cifar_exp
