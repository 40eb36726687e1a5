// A run's name, the one grammar every place that makes or reads one uses: a configuration's base
// name (1-100 of [A-Za-z0-9_.-], starting with a letter or digit), then, for a sweep's grid point,
// "+KEY=VALUE" parts (KEY a dotted config key, VALUE of [A-Za-z0-9_.-]), e.g.
// "aug_tl+training.epochs=30+augmentation.zoom_range=0.8_1.2". The sweep makes them
// (sweep.h: grid_point_name), the config checks them (config.cpp), compare and the TensorBoard
// hparams read them back. A run folder adds "-seed<S>-<UTC>" (run_folder.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cifar_exp {

struct RunName {
  std::string base;
  std::vector<std::pair<std::string, std::string>> grid;  // KEY, VALUE text, in the name's order

  // `name` taken apart: base is the text before the first '+'; grid its "+KEY=VALUE" parts, or
  // none when a part is not KEY=VALUE with KEY a config key path (not a sweep's name).
  static RunName parse(const std::string& name);
  // Whether `name` follows the grammar above (at most 200 characters in all).
  static bool valid(const std::string& name);
  // base+KEY=VALUE+... (VALUE as given: grid_point_name reduces values to name characters).
  std::string text() const;
};

// A character of a base name or a grid value: [A-Za-z0-9_.-].
bool is_run_name_char(char c);

}  // namespace cifar_exp
