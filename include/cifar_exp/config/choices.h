// The settings that take one of a few names (model.type, model.kernels, training.precision, ...):
// each is an enum with one table of names here. The config parser and writer, to_string, the
// command line's choices, summaries and the benchmark all take the names from these tables, so a
// new value is one enum member and one table line.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cifar_exp {

enum class ModelType { kSmallCnn, kVgg16Transfer };
// Which implementation the models use: kFused the fused ReLU + pool of kernels.h with libtorch's
// convolutions, kGeneric libtorch's layers only, kOwn also our own small-CNN convolutions
// (small_conv.h) on every layer, kAuto ours on the layers where they measured faster. The same
// functions; kOwn/kAuto round differently, speed only otherwise.
enum class Kernels { kAuto, kOwn, kFused, kGeneric };
enum class WeightsFormat { kKerasH5, kTorchvision };
// Input scaling for the VGG16 backbone; kAuto follows the weights' format (models.h).
enum class Preprocess { kAuto, kCaffe, kImagenet, kUnit };
// The frozen VGG16's convolutions on the CPU: kWinograd is oneDNN's (onednn_backbone.h),
// kWinogradAvx2 and kWinogradAvx512 our own (winograd.h); kAuto the fastest this build and CPU
// have.
enum class Convolution { kAuto, kDirect, kWinograd, kWinogradAvx2, kWinogradAvx512 };
// Where augmentation samples outside the image (Keras' ImageDataGenerator fill_mode).
enum class FillMode { kNearest, kConstant, kReflect, kWrap };
// What per-epoch validation runs on: the test split (the notebook), a held-out split, nothing.
enum class Validation { kTest, kSplit, kNone };
enum class Precision { kFp32, kBf16 };
// training.optimizer (optimizers.h): each with its framework's defaults.
enum class Optimizer { kAdam, kAdamW, kSgd, kRmsprop };
// training.lr_schedule (lr_schedule.h).
enum class LrSchedule { kConstant, kStep, kCosine, kOneCycle, kReduceOnPlateau };
// What reduce_on_plateau and early stopping watch: an epoch's metric (Keras' monitor).
enum class Monitor { kValLoss, kValAccuracy, kTrainLoss, kTrainAccuracy };
// Whether a monitored metric improves by going down or up; auto: losses down, accuracies up.
enum class MonitorMode { kAuto, kMin, kMax };
// Which of a run's model files `evaluate` and `predict` load: the model as training left it
// (model.pt) or the best epoch's (model.best.pt).
enum class SavedModel { kLast, kBest };

// ChoiceNames<E>::kNames: every value of E with its name, in the order help texts list them.
template <class E>
struct ChoiceNames;

template <class E, size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

template <>
struct ChoiceNames<ModelType> {
  static constexpr NameTable<ModelType, 2> kNames = {
      {{ModelType::kSmallCnn, "small_cnn"}, {ModelType::kVgg16Transfer, "vgg16_transfer"}}};
};
template <>
struct ChoiceNames<Kernels> {
  static constexpr NameTable<Kernels, 4> kNames = {{{Kernels::kAuto, "auto"},
                                                    {Kernels::kOwn, "own"},
                                                    {Kernels::kFused, "fused"},
                                                    {Kernels::kGeneric, "generic"}}};
};
template <>
struct ChoiceNames<WeightsFormat> {
  static constexpr NameTable<WeightsFormat, 2> kNames = {
      {{WeightsFormat::kKerasH5, "keras_h5"}, {WeightsFormat::kTorchvision, "torchvision"}}};
};
template <>
struct ChoiceNames<Preprocess> {
  static constexpr NameTable<Preprocess, 4> kNames = {{{Preprocess::kAuto, "auto"},
                                                       {Preprocess::kCaffe, "caffe"},
                                                       {Preprocess::kImagenet, "imagenet"},
                                                       {Preprocess::kUnit, "unit"}}};
};
template <>
struct ChoiceNames<Convolution> {
  static constexpr NameTable<Convolution, 5> kNames = {
      {{Convolution::kAuto, "auto"},
       {Convolution::kDirect, "direct"},
       {Convolution::kWinograd, "winograd"},
       {Convolution::kWinogradAvx2, "winograd_avx2"},
       {Convolution::kWinogradAvx512, "winograd_avx512"}}};
};
template <>
struct ChoiceNames<FillMode> {
  static constexpr NameTable<FillMode, 4> kNames = {{{FillMode::kNearest, "nearest"},
                                                     {FillMode::kConstant, "constant"},
                                                     {FillMode::kReflect, "reflect"},
                                                     {FillMode::kWrap, "wrap"}}};
};
template <>
struct ChoiceNames<Validation> {
  static constexpr NameTable<Validation, 3> kNames = {
      {{Validation::kTest, "test"}, {Validation::kSplit, "split"}, {Validation::kNone, "none"}}};
};
template <>
struct ChoiceNames<Precision> {
  static constexpr NameTable<Precision, 2> kNames = {
      {{Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}}};
};
template <>
struct ChoiceNames<Optimizer> {
  static constexpr NameTable<Optimizer, 4> kNames = {{{Optimizer::kAdam, "adam"},
                                                      {Optimizer::kAdamW, "adamw"},
                                                      {Optimizer::kSgd, "sgd"},
                                                      {Optimizer::kRmsprop, "rmsprop"}}};
};
template <>
struct ChoiceNames<LrSchedule> {
  static constexpr NameTable<LrSchedule, 5> kNames = {
      {{LrSchedule::kConstant, "constant"},
       {LrSchedule::kStep, "step"},
       {LrSchedule::kCosine, "cosine"},
       {LrSchedule::kOneCycle, "onecycle"},
       {LrSchedule::kReduceOnPlateau, "reduce_on_plateau"}}};
};
template <>
struct ChoiceNames<Monitor> {
  static constexpr NameTable<Monitor, 4> kNames = {{{Monitor::kValLoss, "val_loss"},
                                                    {Monitor::kValAccuracy, "val_accuracy"},
                                                    {Monitor::kTrainLoss, "loss"},
                                                    {Monitor::kTrainAccuracy, "accuracy"}}};
};
template <>
struct ChoiceNames<MonitorMode> {
  static constexpr NameTable<MonitorMode, 3> kNames = {
      {{MonitorMode::kAuto, "auto"}, {MonitorMode::kMin, "min"}, {MonitorMode::kMax, "max"}}};
};
template <>
struct ChoiceNames<SavedModel> {
  static constexpr NameTable<SavedModel, 2> kNames = {
      {{SavedModel::kLast, "last"}, {SavedModel::kBest, "best"}}};
};

// Only for the enums above (a table is what makes a type a choice).
template <class E, class = decltype(ChoiceNames<E>::kNames)>
std::string to_string(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::kNames)
    if (v == value) return name;
  return "?";
}

// The value called `name`; nullopt when none is.
template <class E>
std::optional<E> choice_from_name(std::string_view name) {
  for (const auto& [v, n] : ChoiceNames<E>::kNames)
    if (name == n) return v;
  return std::nullopt;
}

// Every name, in table order ("small_cnn", "vgg16_transfer").
template <class E>
std::vector<std::string> choice_names() {
  std::vector<std::string> names;
  for (const auto& entry : ChoiceNames<E>::kNames) names.push_back(entry.second);
  return names;
}

}  // namespace cifar_exp
