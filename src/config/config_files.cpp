// Finding shipped config files and scripts (config_files.h).
#include "cifar_exp/config/config_files.h"

#include <algorithm>
#include <filesystem>

#include "cifar_exp/build_info.h"
#include "cifar_exp/io/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {

std::vector<std::string> config_search_dirs() {
  std::vector<std::string> dirs{".", "configs"};
  // Installed beside the binary (bin/../share/cifar-exp/configs, wherever the prefix was moved),
  // then where `cmake --install` put them.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path prefix = exe.parent_path().parent_path();
    dirs.push_back((prefix / "share" / "cifar-exp" / "configs").string());
    // The checkout's configs/ when this binary is its build/cifar-exp (as script_path finds
    // the checkout's scripts/): sweeps started from elsewhere find the shipped configs.
    if (fs::is_directory(prefix / "configs", ec)) dirs.push_back((prefix / "configs").string());
  }
  if (std::find(dirs.begin(), dirs.end(), CIFAR_EXP_INSTALLED_CONFIG_DIR) == dirs.end()) {
    dirs.push_back(CIFAR_EXP_INSTALLED_CONFIG_DIR);
  }
  return dirs;
}

std::string script_path(const std::string& name) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    const fs::path prefix = exe.parent_path().parent_path();
    candidates = {prefix / "share" / "cifar-exp" / "scripts" / name, prefix / "scripts" / name};
  }
  candidates.push_back(fs::path(CIFAR_EXP_INSTALLED_CONFIG_DIR).parent_path() / "scripts" / name);
  for (const auto& candidate : candidates) {
    if (fs::is_regular_file(candidate, ec)) return candidate.lexically_normal().string();
  }
  return "scripts/" + name;
}

std::string find_config(const std::string& name) {
  std::error_code ec;
  if (name.find('/') != std::string::npos || fs::is_regular_file(name, ec)) {
    if (!fs::exists(name, ec)) throw ConfigError(name + ": cannot open file");
    return name;  // a path: taken as it is
  }
  const bool has_extension = name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0;
  const std::string file = has_extension ? name : name + ".json";
  std::string looked;
  for (const auto& dir : config_search_dirs()) {
    const std::string candidate = dir == "." ? file : (fs::path(dir) / file).string();
    if (fs::is_regular_file(candidate, ec)) return candidate;
    looked += (looked.empty() ? "" : ", ") + candidate;
  }
  throw ConfigError(name + ": no such config; looked for " + looked);
}

}  // namespace cifar_exp
