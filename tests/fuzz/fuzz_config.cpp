// libFuzzer target: the config parser. Any bytes must end in a parsed config or a ConfigError
// with a one-line message; a config that parses must survive the round trip through the
// resolved form written to a run's config.json.
#include <cstdint>
#include <string>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "fuzz_support.h"

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_config", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc;
  try {
    doc = cifar_exp::parse_json_text(text, "fuzz.json");
  } catch (const cifar_exp::ConfigError& e) {
    require(std::string(e.what()).rfind("fuzz.json:", 0) == 0, "syntax error names the file");
    return 0;
  }
  cifar_exp::ExperimentConfig config;
  try {
    config = cifar_exp::parse_config(doc, "fuzz.json");
  } catch (const cifar_exp::ConfigError& e) {
    const std::string message = e.what();
    require(!message.empty(), "error message is not empty");
    require(message.rfind("fuzz.json", 0) == 0, "error message names the file");
    return 0;
  }
  cifar_exp::fuzz::require_round_trip(config, "fuzz_config");
  return 0;
}
