// Test data for the script tests:
//   make_test_data DIR N_TRAIN N_TEST [SEED]   a small CIFAR-10 binary folder whose classes are
//                                              learnable from colour (sweep_smoke.sh, ...)
//   make_test_data --png DATA_DIR OUT N        the first N test images of DATA_DIR as PNG files
//                                              OUT/<index>-<label>.png, and the first one
//                                              enlarged 3x as OUT/0-<label>-big.png
#include <filesystem>
#include <iostream>
#include <string>

#include "cifar_exp/data/data.h"
#include "cifar_exp/io/images.h"
#include "test_support.h"

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--png") {
    cifar_exp::Cifar10 test(argv[2], cifar_exp::Cifar10::Mode::kTest, std::stoll(argv[4]));
    std::filesystem::create_directories(argv[3]);
    for (int64_t i = 0; i < test.images().size(0); ++i) {
      const auto rgb = test.images()[i].permute({1, 2, 0});  // H x W x 3
      const std::string stem = std::string(argv[3]) + "/" + std::to_string(i) + "-" +
                               std::to_string(test.targets()[i].item<int64_t>());
      cifar_exp::write_png(stem + ".png", rgb);
      if (i == 0) {
        cifar_exp::write_png(stem + "-big.png",
                             rgb.repeat_interleave(3, 0).repeat_interleave(3, 1).contiguous());
      }
    }
    return 0;
  }
  if (argc < 4) {
    std::cerr << "usage: make_test_data DIR N_TRAIN N_TEST [SEED] | --png DATA_DIR OUT N\n";
    return 2;
  }
  const uint64_t seed = argc > 4 ? std::stoull(argv[4]) : 1;
  cifar_exp::testing::write_cifar10_folder(argv[1], std::stoll(argv[2]), std::stoll(argv[3]), seed);
  return 0;
}
