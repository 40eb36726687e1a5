// Where cifar-exp's shipped files are found: config files by name (the current folder, configs/,
// then the installed configs) and the scripts a user is told to run.
#pragma once

#include <string>
#include <vector>

namespace cifar_exp {

// The config file for `name`: a path (anything with a '/', or an existing file) as it is; a bare
// name, with or without ".json", looked up in the current folder, then configs/ of the current
// folder, then the installed configs (bin/../share/cifar-exp/configs beside this binary, then
// the install prefix's). ConfigError listing every place it looked when none has it.
std::string find_config(const std::string& name);
std::vector<std::string> config_search_dirs();

// Where a user finds one of cifar-exp's scripts ("download_cifar10.sh"): the installed copy
// (bin/../share/cifar-exp/scripts), else the checkout's scripts/ beside this build folder, else
// "scripts/NAME"; for messages that tell the user what to run.
std::string script_path(const std::string& name);

}  // namespace cifar_exp
