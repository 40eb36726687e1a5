#include "cifar_exp/config/run_name.h"

#include <algorithm>
#include <cctype>

#include "cifar_exp/config/key_path.h"

namespace cifar_exp {

// Plain loops over characters, not std::regex: libstdc++'s matcher recurses once per character,
// so a long enough input (a --set value, a folder name) overflows the stack.
bool is_run_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

namespace {

constexpr size_t kMaxBaseLength = 100, kMaxNameLength = 200;

// The "+KEY=VALUE" parts after `base_end` as (KEY, VALUE); false at the first part that is not
// KEY=VALUE with KEY a config key path (and, when `strict`, VALUE of name characters).
bool split_grid(const std::string& name, size_t base_end, bool strict,
                std::vector<std::pair<std::string, std::string>>& grid) {
  for (size_t start = base_end; start < name.size();) {
    const size_t end = std::min(name.find('+', start + 1), name.size());
    const std::string part = name.substr(start + 1, end - start - 1);
    const size_t equals = part.find('=');
    if (equals == std::string::npos || !is_config_key_path(part.substr(0, equals))) return false;
    if (strict && !std::all_of(part.begin() + long(equals) + 1, part.end(), is_run_name_char))
      return false;
    grid.emplace_back(part.substr(0, equals), part.substr(equals + 1));
    start = end;
  }
  return true;
}

}  // namespace

RunName RunName::parse(const std::string& name) {
  RunName parsed;
  const size_t base_end = std::min(name.find('+'), name.size());
  parsed.base = name.substr(0, base_end);
  if (!split_grid(name, base_end, false, parsed.grid)) parsed.grid.clear();  // not a sweep's
  return parsed;
}

bool RunName::valid(const std::string& name) {
  const size_t base_end = std::min(name.find('+'), name.size());
  if (name.size() > kMaxNameLength || base_end == 0 || base_end > kMaxBaseLength ||
      !std::isalnum(static_cast<unsigned char>(name[0])) ||
      !std::all_of(name.begin(), name.begin() + long(base_end), is_run_name_char)) {
    return false;
  }
  std::vector<std::pair<std::string, std::string>> grid;
  return split_grid(name, base_end, true, grid);
}

std::string RunName::text() const {
  std::string name = base;
  for (const auto& [key, value] : grid) name += "+" + key + "=" + value;
  return name;
}

}  // namespace cifar_exp
