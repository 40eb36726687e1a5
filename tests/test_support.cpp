// Helpers shared by the tests (test_support.h).
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "cifar_exp/data/data.h"
#include "cifar_exp/io/files.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace cifar_exp::testing {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "cifar-exp-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

SyntheticSplit make_learnable_split(int64_t n, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  // Ten well separated colours.
  auto palette = torch::tensor({{230, 25, 25},
                                {25, 230, 25},
                                {25, 25, 230},
                                {230, 230, 25},
                                {230, 25, 230},
                                {25, 230, 230},
                                {128, 128, 128},
                                {250, 250, 250},
                                {10, 10, 10},
                                {230, 128, 25}},
                               torch::kFloat32);
  auto labels = torch::randint(0, 10, {n}, generator, torch::kInt64);
  auto colours = palette.index_select(0, labels).view({n, 3, 1, 1});
  auto noise = torch::rand({n, 3, 32, 32}, generator) * 60.0 - 30.0;
  auto images = (colours + noise).clamp(0, 255).round().to(torch::kUInt8);
  return {images, labels};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

SyntheticSplit write_cifar10_folder(const std::string& dir, int64_t n_train, int64_t n_test,
                                    uint64_t seed) {
  fs::create_directories(dir);
  auto train = make_learnable_split(n_train, seed);
  auto test = make_learnable_split(n_test, seed + 1000);
  const auto files = split_files(true);
  const int64_t per_file = (n_train + 4) / 5;
  for (int64_t f = 0; f < 5; ++f) {
    const int64_t start = std::min(n_train, f * per_file);
    const int64_t count = std::min(per_file, n_train - start);
    write_cifar10_file(dir + "/" + files[size_t(f)], train.images.narrow(0, start, count),
                       train.labels.narrow(0, start, count));
  }
  write_cifar10_file(dir + "/test_batch.bin", test.images, test.labels);
  write_text(dir + "/batches.meta.txt",
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  return train;
}

std::string metrics_without_times(const std::string& run_dir) {
  std::istringstream in(read_text(run_dir + "/metrics.csv"));
  std::string line, out;
  std::vector<bool> timing;
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    std::string cell, kept;
    for (size_t i = 0; std::getline(cells, cell, ','); ++i) {
      if (timing.size() <= i) timing.push_back(cell == "seconds" || cell == "images_per_second");
      if (!timing[i]) kept += cell + ",";
    }
    out += kept + "\n";
  }
  return out;
}

std::vector<std::string> run_folders(const std::string& parent) {
  std::vector<std::string> found;
  if (!fs::exists(parent)) return found;
  for (const auto& entry : fs::directory_iterator(parent)) {
    if (entry.path().filename().string()[0] != '.') found.push_back(entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename();
    if (name.rfind("events.out.tfevents.", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}
}  // namespace

namespace {

CommandResult run_command(const std::string& prefix, const std::vector<std::string>& args) {
  std::vector<std::string> argv{CIFAR_EXP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, prefix);
}

}  // namespace

CommandResult run_program(const std::vector<std::string>& argv, const std::string& prefix) {
  TempDir capture;
  std::string command = prefix;
  for (const auto& a : argv) command += quote(a) + " ";
  command += ">" + quote(capture / "out") + " 2>" + quote(capture / "err") + " </dev/null";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text(capture / "out");
  result.err = read_text(capture / "err");
  return result;
}

CommandResult run_cli(const std::vector<std::string>& args) { return run_command("", args); }

CommandResult run_cli_with_file_limit(const std::vector<std::string>& args,
                                      int64_t max_file_bytes) {
  const std::string limit = std::to_string(max_file_bytes);
  return run_command("prlimit --fsize=" + limit + ":" + limit + " ", args);
}

void expect_one_line_error(const CommandResult& r, int exit_code, const std::string& message_part,
                           const std::string& label) {
  EXPECT_EQ(r.exit_code, exit_code) << label << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << label << ": " << r.err;
  EXPECT_EQ(r.err.rfind("cifar-exp: error: ", 0), 0u) << label << ": " << r.err;
  EXPECT_NE(r.err.find(message_part), std::string::npos) << label << ": " << r.err;
  for (const char* leak : {"json.exception", "basic_filebuf", "std::", "what()", "terminate",
                           "libpng", "libjpeg", "Premature end of JPEG file\n"}) {
    EXPECT_EQ(r.err.find(leak), std::string::npos) << label << ": " << leak << " in " << r.err;
  }
}

std::map<std::string, std::pair<uintmax_t, uint32_t>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, uint32_t>> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(entry.path(), dir).string();
    files[name] = entry.is_regular_file()
                      ? std::make_pair(entry.file_size(), crc32_of(read_file(entry.path())))
                      : std::make_pair(uintmax_t(0), uint32_t(0));
  }
  return files;
}

ScopedEnv::ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* v = std::getenv(name_.c_str())) saved_ = v;
  setenv(name_.c_str(), value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (saved_) {
    setenv(name_.c_str(), saved_->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace cifar_exp::testing
