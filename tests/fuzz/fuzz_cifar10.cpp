// libFuzzer target: the CIFAR-10 batch-file reader (the bytes of one data_batch_N.bin) and the
// batches.meta.txt class-name parser. Any bytes must end in decoded records or a DataError, and
// decoded records must be exactly the input's bytes.
#include <cstdint>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "cifar_exp/data/data.h"
#include "cifar_exp/io/errors.h"
#include "fuzz_support.h"

namespace {

void require(bool condition, const char* what) {
  cifar_exp::fuzz::require(condition, "fuzz_cifar10", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cifar_exp;
  try {
    const Cifar10Split split = decode_cifar10_batch(data, size, "fuzz.bin");
    const int64_t n = split.images.size(0);
    require(n > 0 && size_t(n * kRecordBytes) == size, "whole records only");
    require(split.labels.size(0) == n, "one label per image");
    require(split.labels.min().item<int64_t>() >= 0 && split.labels.max().item<int64_t>() < 10,
            "labels 0..9");
    // Record i: label byte, then 3,072 pixel bytes in channel-major order.
    const int64_t last = n - 1;
    require(split.labels[last].item<int64_t>() == data[last * kRecordBytes], "label byte");
    auto image = split.images[last].contiguous();
    require(std::memcmp(image.data_ptr<uint8_t>(), data + last * kRecordBytes + 1,
                        kRecordBytes - 1) == 0,
            "pixels are the record's bytes");
  } catch (const DataError& e) {
    require(std::string(e.what()).rfind("fuzz.bin: ", 0) == 0, "error names the file");
  }
  const auto names = parse_class_names(std::string(reinterpret_cast<const char*>(data), size));
  require(names.size() == 10, "ten class names");
  (void)nlohmann::json(names).dump();  // written to summary.json: must be valid UTF-8
  return 0;
}
