// The run folder names SweepFolder makes (<name>-seed<S>-<UTC>), taken apart again.
#include "cifar_exp/records/sweep_folder.h"

#include <algorithm>
#include <cctype>

namespace cifar_exp {
namespace {

// "no_aug_no_tl-seed3-20261128T040129Z-2" (or, from earlier versions, without "-seed3") ->
// "no_aug_no_tl".
std::string name_without_seed(const std::string& name) {
  const size_t at = name.rfind("-seed");
  if (at == std::string::npos || at + 5 == name.size()) return name;
  const bool digits = std::all_of(name.begin() + long(at + 5), name.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  return digits ? name.substr(0, at) : name;
}

}  // namespace

std::string SweepFolder::name_of_run_folder(const std::string& folder) {
  // "-YYYYMMDDTHHMMSSZ" at the end, or before a final "-N" (new_run and the unique suffix).
  const auto digits = [&](size_t from, size_t count) {
    return std::all_of(folder.begin() + long(from), folder.begin() + long(from + count),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  const size_t stamp = 17;
  const auto stamp_ends_at = [&](size_t end) {
    return end >= stamp && folder[end - stamp] == '-' && digits(end - 16, 8) &&
           folder[end - 8] == 'T' && digits(end - 7, 6) && folder[end - 1] == 'Z';
  };
  const size_t dash = folder.rfind('-');
  if (dash != std::string::npos && dash + 1 < folder.size() &&
      digits(dash + 1, folder.size() - dash - 1) && stamp_ends_at(dash)) {
    return name_without_seed(folder.substr(0, dash - stamp));
  }
  return stamp_ends_at(folder.size()) ? name_without_seed(folder.substr(0, folder.size() - stamp))
                                      : folder;
}

}  // namespace cifar_exp
