// Every key of the config schema, listed for the scripts that read configs
// (`cifar-exp --print-config --keys`): what each key is in a resolved config, its default and
// whether it applies, from the same field tables and rules that parse_config and to_json use.
#pragma once

#include <nlohmann/json.hpp>

namespace cifar_exp {

struct ExperimentConfig;  // config.h

// {"keys": [{"key": "model.type", "value": ..., "default": ..., "applies": true, "why_not": ""},
// ...]}: every key of the schema, dotted, in schema order (the top level's keys, then data, model,
// augmentation, training, output), an optional object's keys (augmentation.random_crop,
// training.early_stopping) after it. "value" is `config`'s where the key applies, else the
// default; "default" is null where there is none (name, model.weights: required); "why_not" the
// reason a key does not apply, as parse_config words it ("" where it applies). Beside them,
// "derived": what the program makes of them: {"augmentation.any_geometric": bool (whether
// augmentation moves pixels: AugmentationConfig::any_geometric), "model.preprocess": "caffe" |
// "imagenet" | "unit" (resolve_preprocess; VGG16 only)}.
nlohmann::json config_keys(const ExperimentConfig& config);

}  // namespace cifar_exp
