// libFuzzer target: `--set KEY=VALUE` overrides. Each input line is one --set argument, applied
// to a small valid config as the command line would. Any text must end in a parsed config or a
// ConfigError with one non-empty line; a config that parses must round-trip through config.json.
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "fuzz_support.h"

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_set", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cifar_exp::ConfigOverrides overrides;
  std::istringstream lines(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(lines, line) && overrides.set.size() < 8;) {
    overrides.set.push_back(line);
  }
  nlohmann::json doc = {{"name", "fuzz"}, {"training", {{"epochs", 1}}}};
  std::map<std::string, std::string> origins;
  cifar_exp::ExperimentConfig config;
  try {
    cifar_exp::apply_overrides(doc, overrides, origins);
    config = cifar_exp::parse_config(doc, "fuzz.json", origins);
  } catch (const cifar_exp::ConfigError& e) {
    const std::string message = e.what();
    require(!message.empty(), "the error is not empty");
    require(message.find('\n') == std::string::npos, "the error is one line");
    return 0;
  }
  cifar_exp::fuzz::require_round_trip(config, "fuzz_set");
  return 0;
}
