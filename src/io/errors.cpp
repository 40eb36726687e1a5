// Error types and their exit codes (errors.h).
#include "cifar_exp/io/errors.h"

namespace cifar_exp {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string escape_line_breaks(const std::string& text) {
  std::string out;
  for (const char c : text) out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
  return out;
}

}  // namespace cifar_exp
