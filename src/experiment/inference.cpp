// Evaluate, predict and portable weights from a finished run (see inference.h).
#include "cifar_exp/experiment/inference.h"

#include <filesystem>
#include <iomanip>
#include <sstream>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/experiment/run_context.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/images.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/records/run_summary.h"
#include "cifar_exp/training/checkpoint.h"
#include "cifar_exp/training/fit.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

const std::vector<std::string> kCifar10Classes = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

void load_model_file(torch::nn::Module& model, const std::string& path, SavedModel which,
                     const torch::Device& device) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw OutputError(path + (which == SavedModel::kBest
                                  ? ": no best-model file (the run had no validation and no "
                                    "training.early_stopping, was made with output.save_model "
                                    "false or by an older cifar-exp, or has not finished an "
                                    "epoch)"
                                  : ": no model file (the run was made with output.save_model "
                                    "false, or has not finished an epoch)"));
  }
  const CheckedFile file = read_checked_file(path);
  if (file.integrity == Integrity::kCorrupted) {
    throw OutputError(path + ": model file is corrupted: " + file.problem);
  }
  if (file.integrity == Integrity::kUnchecked) throw OutputError(missing_checksum(path));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.content.data(), file.content.size(), device);
    model.load(archive);
  } catch (const c10::Error& e) {
    throw OutputError(path + ": cannot load model: " + first_line(e.what_without_backtrace()));
  }
}

}  // namespace

LoadedRun load_run(const std::string& run_dir, const std::optional<std::string>& device,
                   std::optional<int64_t> threads, SavedModel which) {
  std::error_code ec;
  const std::string config_path = RunFolder(run_dir).config();
  if (!fs::is_regular_file(config_path, ec)) {
    throw ConfigError(run_dir + ": not a run folder (no config.json)");
  }
  ConfigOverrides overrides;
  overrides.device = device;
  overrides.threads = threads;
  LoadedRun run;
  run.config = load_run_folder_config(config_path, overrides);
  configure_threads(run.config.training.threads);
  run.device = resolve_device(run.config.training.device);
  // model.pt holds every parameter, the backbone's included: the weights file the run started
  // from is not needed (and may not exist on this machine).
  ModelConfig architecture = run.config.model;
  if (architecture.type == ModelType::kVgg16Transfer) architecture.weights = "random";
  run.model = build_model(architecture);
  run.model->to(run.device);
  run.model_file = RunFolder(run_dir).model(which);
  load_model_file(*run.model, run.model_file, which, run.device);
  run.model->eval();
  run.class_names = kCifar10Classes;
  const std::string summary_path = RunFolder(run_dir).summary();
  if (fs::exists(summary_path, ec) && !fs::is_regular_file(summary_path, ec)) {
    throw OutputError(summary_path + ": not a regular file");
  }
  if (fs::is_regular_file(summary_path, ec)) {
    const RunSummary summary = RunSummary::from_json(read_json_file(summary_path), summary_path);
    if (summary.class_names.size() == kCifar10Classes.size()) {
      run.class_names = summary.class_names;
    }
  }
  return run;
}

nlohmann::json evaluate_run(const EvaluateOptions& options,
                            const std::shared_ptr<spdlog::logger>& logger) {
  if (options.split != "test" && options.split != "train") {
    throw ConfigError("--split: must be test or train, got \"" + options.split + "\"");
  }
  if (options.limit && *options.limit < 1) {
    throw ConfigError("--limit: must be a positive integer, got " + std::to_string(*options.limit));
  }
  LoadedRun run = load_run(options.run_dir, options.device, options.threads, options.which);
  configure_device(run.device, run.config.training, /*autotune=*/false);
  const std::string data_dir = resolve_data_dir(options.data_dir, run.config.data.dir);
  check_data_files(data_dir);
  // The run's own test subset unless told otherwise, so that the figures are comparable.
  const std::optional<int64_t> limit =
      options.limit
          ? options.limit
          : (options.split == "test" ? run.config.data.test_limit : run.config.data.train_limit);
  Cifar10 data(data_dir, options.split == "test" ? Cifar10::Mode::kTest : Cifar10::Mode::kTrain,
               limit);
  data.to(run.device);
  logger->info("Evaluating {} on {} {} images of {} ({})", run.model_file, data.images().size(0),
               options.split, data_dir, run.device.str());
  // model.best.pt's epoch was chosen on the validation data: on the test split when the run
  // validated there (training.validation "test"), which then measures its own choice.
  const bool best_chosen_on_test =
      options.which == SavedModel::kBest && run.config.training.validation == Validation::kTest;
  if (best_chosen_on_test && options.split == "test") {
    logger->warn(
        "{}: its epoch was chosen on the test split (the run's training.validation is \"test\"), "
        "so its test accuracy is not an unbiased estimate",
        run.model_file);
  }
  const EvaluationResult result =
      evaluate(*run.model, data.images(), data.targets(), run.config.training.eval_batch_size,
               run.config.training.precision);
  nlohmann::json per_class = nlohmann::json::object();
  const auto accuracies = result.per_class_accuracy();
  for (size_t c = 0; c < accuracies.size(); ++c) per_class[run.class_names[c]] = accuracies[c];
  nlohmann::json evaluation = {
      {"run", options.run_dir},
      {"model", to_string(options.which)},
      {"model_file", run.model_file},
      {"split", options.split},
      {"selected_on", best_chosen_on_test ? nlohmann::json("test") : nlohmann::json(nullptr)},
      {"images", data.images().size(0)},
      {"data_dir", data_dir},
      {"device", run.device.str()},
      {"accuracy", result.accuracy},
      {"loss", result.loss},
      {"per_class_accuracy", per_class},
      {"confusion_matrix", result.confusion_rows()},
      {"evaluated_at", utc_now("%Y-%m-%dT%H:%M:%SZ")}};
  const std::string path =
      write_new_file(RunFolder(options.run_dir).evaluation_stem(utc_now("%Y%m%dT%H%M%SZ")), ".json",
                     json_text(evaluation, 2) + "\n");
  evaluation["file"] = path;
  return evaluation;
}

std::string format_evaluation(const nlohmann::json& e) {
  std::ostringstream out;
  out << "model " << e["model_file"].get<std::string>() << ", split "
      << e["split"].get<std::string>() << ", " << e["images"].get<int64_t>() << " images, "
      << e["device"].get<std::string>() << "\n";
  out << "accuracy " << percent(e["accuracy"].get<double>()) << ", loss " << std::fixed
      << std::setprecision(4) << e["loss"].get<double>() << "\n";
  for (const auto& [name, accuracy] : e["per_class_accuracy"].items()) {
    out << "  " << std::left << std::setw(12) << name << percent(accuracy.get<double>()) << "\n";
  }
  out << "written to " << e["file"].get<std::string>() << "\n";
  return out.str();
}

std::string predict_images(const PredictOptions& options) {
  if (options.images.empty()) throw ConfigError("predict: give at least one image file");
  if (options.top < 1 || options.top > 10) {
    throw ConfigError("--top: must be an integer from 1 to 10, got " + std::to_string(options.top));
  }
  // Every image is read before anything is computed: a bad file fails fast, naming it.
  std::vector<torch::Tensor> inputs;
  for (const auto& path : options.images) inputs.push_back(image_to_input(read_image(path)));
  LoadedRun run = load_run(options.run_dir, options.device, options.threads, options.which);
  configure_device(run.device, run.config.training, /*autotune=*/false);
  torch::NoGradGuard no_grad;
  const auto logits = run.model->forward(torch::cat(inputs).to(run.device)).to(torch::kCPU);
  const auto probabilities = torch::softmax(logits.to(torch::kFloat64), 1);
  const auto top = probabilities.topk(options.top, 1);
  nlohmann::json results = nlohmann::json::array();
  std::ostringstream table;
  for (size_t i = 0; i < options.images.size(); ++i) {
    nlohmann::json predictions = nlohmann::json::array();
    table << options.images[i] << ":";
    for (int64_t k = 0; k < options.top; ++k) {
      const int64_t index = std::get<1>(top)[int64_t(i)][k].item<int64_t>();
      const double p = std::get<0>(top)[int64_t(i)][k].item<double>();
      predictions.push_back(
          {{"class", run.class_names[size_t(index)]}, {"index", index}, {"probability", p}});
      table << (k ? ", " : " ") << run.class_names[size_t(index)] << " " << std::fixed
            << std::setprecision(4) << p;
    }
    table << "\n";
    auto row = logits[int64_t(i)].contiguous();
    results.push_back({{"image", options.images[i]},
                       {"predictions", predictions},
                       {"logits", std::vector<float>(row.data_ptr<float>(),
                                                     row.data_ptr<float>() + row.numel())}});
  }
  return options.format == "json" ? json_text(results, 2) + "\n" : table.str();
}

void save_portable_weights(const torch::nn::Module& model, const std::string& path) {
  c10::Dict<std::string, at::Tensor> state;
  // clone(): a view would otherwise be saved with its whole storage; contiguous(): plain
  // row-major tensors whatever memory format (channels-last) training used.
  for (const auto& p : model.named_parameters()) {
    state.insert_or_assign(
        p.key(), p.value().detach().cpu().contiguous(torch::MemoryFormat::Contiguous).clone());
  }
  for (const auto& b : model.named_buffers()) {
    state.insert_or_assign(b.key(), b.value().cpu().contiguous().clone());
  }
  // torch::pickle_save would tag the dict with its TorchScript type (a call of
  // torch.jit._pickle.restore_type_tag, which weights_only loading refuses): pickle a plain dict,
  // then store it and its tensors the way torch.save does (a zip with data.pkl and data/<n>).
  std::string pickled;
  torch::jit::Pickler pickler([&](const char* data, size_t size) { pickled.append(data, size); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(state));
  pickler.stop();
  std::string container;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    container.append(static_cast<const char*>(data), size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  write_checked_file(path, container);
}

}  // namespace cifar_exp
