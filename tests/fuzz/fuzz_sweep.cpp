// libFuzzer target: sweep planning (`cifar-exp sweep --plan [--prepare]`). The input is parts
// separated by a line "---": option lines ("seeds N", "grid KEY=V1,V2", "set KEY=VALUE",
// "configs N": how many copies of the config to list), the config file's text, and the text of
// an existing sweep.json in the output folder. Any input must end in a plan within
// kMaxSweepRuns tasks, or a one-line ConfigError/OutputError that left the output folder as it
// was; with -malloc_limit_mb, a plan too large must be refused before it is allocated.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/sweep/sweep.h"
#include "fuzz_support.h"

namespace fs = std::filesystem;

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_sweep", what);
}

const std::string& work_dir() {
  static const std::string dir = [] {
    std::string pattern = (fs::temp_directory_path() / "fuzz-sweep-XXXXXX").string();
    require(::mkdtemp(pattern.data()) != nullptr, "a temporary folder");
    return pattern;
  }();
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The files under `dir` with their contents: what a refusal must leave as it was.
std::string listing(const fs::path& dir) {
  std::string text;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    text += it->path().string() + "\n";
    if (it->is_regular_file()) {
      std::ifstream in(it->path(), std::ios::binary);
      text += std::string(std::istreambuf_iterator<char>(in), {}) + "\n";
    }
  }
  return text;
}

std::vector<std::string> split_parts(const std::string& input) {
  std::vector<std::string> parts(1);
  std::istringstream lines(input);
  for (std::string line; std::getline(lines, line);) {
    if (line == "---" && parts.size() < 3) {
      parts.emplace_back();
      continue;
    }
    parts.back() += line + "\n";
  }
  parts.resize(3);
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = split_parts(std::string(reinterpret_cast<const char*>(data), size));
  const fs::path dir = work_dir();
  std::error_code ec;
  fs::remove_all(dir / "out", ec);
  write(dir / "config.json", parts[1]);

  cifar_exp::SweepOptions options;
  options.output_dir = (dir / "out").string();
  options.overrides.data_dir = (dir / "no-data").string();
  int64_t copies = 1;
  std::istringstream lines(parts[0]);
  for (std::string line; std::getline(lines, line);) {
    line = line.substr(0, line.find('\0'));  // what a command-line argument can hold
    const size_t space = line.find(' ');
    const std::string word = line.substr(0, space),
                      rest = space == line.npos ? "" : line.substr(space + 1);
    if (word == "seeds") options.seeds = std::strtoll(rest.c_str(), nullptr, 10);
    if (word == "grid" && options.grid.size() < 4) options.grid.push_back(rest);
    if (word == "set" && options.overrides.set.size() < 4) options.overrides.set.push_back(rest);
    if (word == "configs") copies = std::strtoll(rest.c_str(), nullptr, 10) % 4;
  }
  options.configs.assign(size_t(std::max<int64_t>(copies, 0)), (dir / "config.json").string());
  if (!parts[2].empty()) {
    fs::create_directories(dir / "out");
    write(dir / "out/sweep.json", parts[2]);
  }
  const std::string before = listing(dir / "out");
  const auto refused = [&](const cifar_exp::Error& e) {
    const std::string message = e.what();
    require(!message.empty(), "the error is not empty");
    require(message.find('\n') == std::string::npos, "the error is one line");
    require(listing(dir / "out") == before, "a refusal leaves the output folder as it was");
  };
  cifar_exp::SweepPlan plan;
  try {
    plan = cifar_exp::plan_sweep(options);
  } catch (const cifar_exp::Error& e) {
    refused(e);
    return 0;
  }
  require(int64_t(plan.tasks.size()) <= cifar_exp::kMaxSweepRuns, "the plan is within the limit");
  require(listing(dir / "out") == before, "planning writes nothing");
  (void)cifar_exp::json_text(cifar_exp::to_json(plan), 2);  // as --plan prints it
  (void)cifar_exp::format_tsv(plan);
  try {
    cifar_exp::prepare_sweep_folder(plan);
  } catch (const cifar_exp::Error& e) {
    refused(e);
  }
  return 0;
}
