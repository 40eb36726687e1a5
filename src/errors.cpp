// Error types and their exit codes (errors.h).
#include "cifar_exp/errors.h"

namespace cifar_exp {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace cifar_exp
