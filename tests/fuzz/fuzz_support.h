// Shared by the fuzz targets: an invariant that must hold for every input.
#pragma once

#include <cstdlib>
#include <iostream>

namespace cifar_exp::fuzz {

// Aborts (a finding for libFuzzer) naming the target and the broken invariant.
inline void require(bool condition, const char* target, const char* what) {
  if (!condition) {
    std::cerr << target << ": invariant broken: " << what << std::endl;
    std::abort();
  }
}

}  // namespace cifar_exp::fuzz
