// Reading JSON text for configs and run files: bounded nesting, and errors that name the file,
// line and column (ConfigError); values quoted short in messages.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// JSON nesting deeper than any config or run file has: refused while parsing, because what
// reads a document afterwards (dump, ==) recurses once per level.
constexpr int kMaxJsonDepth = 64;
struct JsonTooDeep : std::runtime_error {
  JsonTooDeep() : std::runtime_error("JSON nested deeper than 64 levels") {}
};
// json::parse that throws JsonTooDeep past kMaxJsonDepth (and json::parse_error as usual).
nlohmann::json parse_json_bounded(const std::string& text);
// The same, never throwing: nullopt for invalid or too deeply nested text.
std::optional<nlohmann::json> try_parse_json(const std::string& text);

// Reads a JSON file (no schema); ConfigError naming the file on failure.
nlohmann::json read_json_file(const std::string& path);
// Parses JSON text; syntax errors become ConfigError "<source>:<line>:<column>: invalid JSON: ...".
nlohmann::json parse_json_text(const std::string& text, const std::string& source);

// `value` as an error message quotes it: compact JSON, cut to 40 characters.
std::string describe_value(const nlohmann::json& value);

}  // namespace cifar_exp
