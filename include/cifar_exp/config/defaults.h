// The defaults that the binary and the scripts beside it share, each defined once here:
// `cifar-exp --print-defaults` prints them for Python and `--print-default NAME` one of them for
// bash, so that no script restates them.
#pragma once

#include <array>
#include <string>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// Where the CIFAR-10 binary files are read from when neither --data-dir, $CIFAR10_DIR nor
// data.dir names a folder (resolve_data_dir).
inline constexpr const char* kDefaultDataDir = "data/cifar-10-batches-bin";

// The notebook's four configurations (shipped in configs/), in the order the notebook runs
// them: a sweep's default --configs.
inline constexpr std::array<const char*, 4> kNotebookConfigs = {"no_aug_no_tl", "aug_no_tl",
                                                                "no_aug_tl", "aug_tl"};

// Every default above by name: {"data_dir": ..., "notebook_configs": [...]}.
nlohmann::json shared_defaults();
// One of them as plain text for a shell: a string as it is, a list one item per line (each line
// ending in '\n'). ConfigError naming `name` and the known names when there is no such default.
std::string shared_default_text(const std::string& name);

}  // namespace cifar_exp
