// Reading JSON text (json_reading.h).
#include "cifar_exp/config/json_reading.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"

namespace fs = std::filesystem;

namespace cifar_exp {

using nlohmann::json;

json parse_json_bounded(const std::string& text) {
  return json::parse(text, [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) throw JsonTooDeep();
    return true;
  });
}

std::optional<json> try_parse_json(const std::string& text) {
  try {
    return parse_json_bounded(text);
  } catch (const json::exception&) {
    return std::nullopt;
  } catch (const JsonTooDeep&) {
    return std::nullopt;
  }
}

json read_json_file(const std::string& path) {
  // A folder or a device (/dev/zero) would be read forever or throw from inside libstdc++.
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    throw ConfigError(path + ": not a regular file");
  }
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

json parse_json_text(const std::string& text, const std::string& path) {
  try {
    return parse_json_bounded(text);
  } catch (const JsonTooDeep& e) {
    throw ConfigError(path + ": invalid JSON: " + e.what());
  } catch (const json::parse_error& e) {
    // Translate the byte offset into line and column, which is what an editor shows.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const auto colon = what.find(": ", what.find("parse error"));
    const std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
    throw ConfigError(path + ":" + std::to_string(line) + ":" + std::to_string(column) +
                      ": invalid JSON: " + first_line(reason));
  } catch (const json::exception& e) {
    // e.g. out_of_range 406, a number too large for a double; it carries no position.
    std::string what = e.what();
    const auto bracket = what.find("] ");
    throw ConfigError(path + ": invalid JSON: " +
                      first_line(bracket == std::string::npos ? what : what.substr(bracket + 2)));
  }
}

std::string describe_value(const json& value) {
  // replace: a value from --set may hold bytes that are not UTF-8 (refused, but named first).
  std::string text = json_text(value, -1);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

}  // namespace cifar_exp
