// Writes a small CIFAR-10 binary folder whose classes are learnable from colour, for the script
// tests (sweep_smoke.sh): make_test_data DIR N_TRAIN N_TEST [SEED]
#include <iostream>
#include <string>

#include "test_support.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: make_test_data DIR N_TRAIN N_TEST [SEED]\n";
    return 2;
  }
  const uint64_t seed = argc > 4 ? std::stoull(argv[4]) : 1;
  cifar_exp::testing::write_cifar10_folder(argv[1], std::stoll(argv[2]), std::stoll(argv[3]), seed);
  return 0;
}
