// Error types and the process exit codes they map to. Every failure a user can cause is one of
// these, caught in main and printed as a single line.
#pragma once

#include <stdexcept>
#include <string>

namespace cifar_exp {

// Documented in docs/errors-and-exit-codes.md.
enum class ExitCode : int {
  kSuccess = 0,
  kUsage = 2,         // command line or config
  kData = 3,          // CIFAR-10 files
  kWeights = 4,       // pretrained weight files
  kOutput = 5,        // output folder, disk
  kDiverged = 6,      // NaN/inf loss
  kOutOfMemory = 7,   // the device (GPU or host) ran out of memory: lower a batch size
  kBusy = 8,          // the same run (output folder, config, seed) is running in another process
  kRunsFailed = 9,    // a sweep ran to its end but some of its runs failed (each has failure.json)
  kDamagedRuns = 10,  // compare: damaged run folders left out; the table of the others printed
  kInterrupted = 130,
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

struct ConfigError : Error {
  explicit ConfigError(const std::string& m) : Error(ExitCode::kUsage, m) {}
};
struct DataError : Error {
  explicit DataError(const std::string& m) : Error(ExitCode::kData, m) {}
};
struct WeightsError : Error {
  explicit WeightsError(const std::string& m) : Error(ExitCode::kWeights, m) {}
};
struct OutputError : Error {
  explicit OutputError(const std::string& m) : Error(ExitCode::kOutput, m) {}
};
struct InterruptedError : Error {
  explicit InterruptedError(const std::string& m) : Error(ExitCode::kInterrupted, m) {}
};
struct DivergedError : Error {
  explicit DivergedError(const std::string& m) : Error(ExitCode::kDiverged, m) {}
};

struct OutOfMemoryError : Error {
  explicit OutOfMemoryError(const std::string& m) : Error(ExitCode::kOutOfMemory, m) {}
};

struct BusyError : Error {
  explicit BusyError(const std::string& m) : Error(ExitCode::kBusy, m) {}
};

// Where `cifar-exp` also writes its one-line error, when this environment variable names a file:
// how a sweep learns why a run it started failed, without reading the run's console output.
constexpr const char* kErrorFileVariable = "CIFAR_EXP_ERROR_FILE";

// libtorch messages span several lines with a C++ backtrace; keep only the first line.
std::string first_line(const std::string& text);
// `text` with its line breaks written as \n and \r: a value quoted in a one-line error.
std::string escape_line_breaks(const std::string& text);

}  // namespace cifar_exp
