// libFuzzer target: the run-folder readers behind `compare`, `compare --runs` and the sweeps
// (run_records.h, run_summary.h, comparison.h). The input is split at lines "=====" into the
// contents of summary.json, failure.json, metrics.csv, sweep.json (in the folder of runs),
// config.json and metrics.jsonl, in that order (a part that is "-" leaves its file out),
// written into a fresh run folder. Whatever they hold, reading, listing and comparing must end in
// output or a cifar_exp::Error with one line naming a file of the folder; no other exception, no
// crash.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/records/comparison.h"
#include "cifar_exp/records/run_records.h"
#include "fuzz_support.h"

namespace fs = std::filesystem;

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_run_folder", what);
}

// One folder per process, emptied for each input.
const fs::path& work_dir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "fuzz-run-folder-XXXXXX").string();
    require(::mkdtemp(pattern.data()) != nullptr, "a temporary folder");
    std::atexit([] { fs::remove_all(work_dir()); });
    return fs::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kFiles[] = {"summary.json", "failure.json", "metrics.csv",
                                       "sweep.json",   "config.json",  "metrics.jsonl"};
  std::vector<std::string> parts(1);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(in, line);) {
    if (line == "=====") {
      parts.emplace_back();
    } else {
      parts.back() += line + "\n";
    }
  }
  const fs::path root = work_dir();
  const fs::path run = root / "run-20260101T000000Z";
  fs::remove_all(run);
  fs::remove(root / "sweep.json");
  fs::create_directories(run);
  for (size_t i = 0; i < parts.size() && i < std::size(kFiles); ++i) {
    if (parts[i] == "-\n") continue;
    // sweep.json belongs to the folder of runs, the others to the run.
    const fs::path file = (i == 3 ? root : run) / kFiles[i];
    std::ofstream(file, std::ios::binary) << parts[i];
  }
  try {
    const auto runs = cifar_exp::find_runs({root.string()});
    for (const char* format : {"json", "csv", "markdown"}) {
      const std::string listing = cifar_exp::format_runs(runs, format);
      if (std::string(format) == "json") nlohmann::json::parse(listing);  // valid JSON
    }
    cifar_exp::CompareOptions options;
    options.order = cifar_exp::read_sweep_order({root.string()});
    const auto rows = cifar_exp::compare_runs(runs, options);
    cifar_exp::format_markdown(rows);
    cifar_exp::format_csv(rows);
    cifar_exp::to_json(rows).dump();
  } catch (const cifar_exp::Error& e) {
    const std::string message = e.what();
    require(message.find('\n') == std::string::npos, "the error is one line");
    require(message.rfind(root.string(), 0) == 0 || message.find(".json") != std::string::npos ||
                message.find(".csv") != std::string::npos,
            "the error names a file");
  }
  return 0;
}
