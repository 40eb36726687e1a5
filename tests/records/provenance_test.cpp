// Tests for provenance.h: what a run records about the machine and libraries it ran on.
#include "cifar_exp/records/provenance.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace cifar_exp {
namespace {

// The BLAS in provenance is the library this process has mapped, not libtorch's compile-time
// "generic" (Debian's libtorch runs whichever libblas.so.3 the alternatives point at).
TEST(Provenance, NamesTheBlasLibraryThisProcessLoaded) {
  torch::mm(torch::ones({64, 64}), torch::ones({64, 64}));  // BLAS in use
  std::ifstream maps("/proc/self/maps");
  std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  const std::string name = blas_name();
  EXPECT_NE(name, "generic");
  EXPECT_NE(name, "unknown");
  if (text.find("openblas") != std::string::npos) {
    EXPECT_EQ(name.rfind("OpenBLAS ", 0), 0u) << name;
    EXPECT_NE(name.find(" threads: /"), std::string::npos) << name;
    EXPECT_NE(name.find("openblas"), std::string::npos) << name;
  } else if (text.find("blas") == std::string::npos) {
    EXPECT_NE(name.find("(built in)"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace cifar_exp
