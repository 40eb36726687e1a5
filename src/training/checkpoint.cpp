// checkpoint.pt and model.pt: writing and reading a run's state (checkpoint.h).
#include "cifar_exp/training/checkpoint.h"

#include <filesystem>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/logging.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// Bumped when the layout below changes; older files are refused with a clear message.
constexpr int64_t kCheckpointVersion = 1;
// The epochs so far as a float64 table, one EpochMetrics::to_row() per row.
torch::Tensor metrics_to_tensor(const std::vector<EpochMetrics>& epochs) {
  auto t = torch::zeros({int64_t(epochs.size()), EpochMetrics::row_size()}, torch::kFloat64);
  for (size_t i = 0; i < epochs.size(); ++i) {
    const std::vector<double> row = epochs[i].to_row();
    t[int64_t(i)].copy_(torch::tensor(row, torch::kFloat64));
  }
  return t;
}

std::vector<EpochMetrics> metrics_from_tensor(const torch::Tensor& t) {
  std::vector<EpochMetrics> epochs;
  auto cpu = t.to(torch::kCPU, torch::kFloat64).contiguous();
  for (int64_t i = 0; i < cpu.size(0); ++i) {
    const double* row = cpu[i].data_ptr<double>();
    epochs.push_back(EpochMetrics::from_row(std::vector<double>(row, row + cpu.size(1))));
  }
  return epochs;
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key,
                          const std::string& path) {
  torch::Tensor t;
  if (!archive.try_read(key, t))
    throw OutputError(path + ": not a cifar-exp checkpoint (no " + key + ")");
  return t;
}

torch::serialize::InputArchive open_archive(const std::string& path, const torch::Device& device) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw OutputError(path + ": checkpoint not found");
  const CheckedFile file = read_checked_file(path);
  if (file.integrity == Integrity::kCorrupted) {
    throw OutputError(path + ": checkpoint is corrupted: " + file.problem);
  }
  if (file.integrity == Integrity::kUnchecked) throw OutputError(missing_checksum(path));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.content.data(), file.content.size(), device);
  } catch (const c10::Error& e) {
    throw OutputError(path + ": cannot read checkpoint: " + first_line(e.what_without_backtrace()));
  }
  auto version = read_tensor(archive, "version", path);
  if (version.item<int64_t>() != kCheckpointVersion) {
    throw OutputError(path + ": checkpoint format " + std::to_string(version.item<int64_t>()) +
                      ", this cifar-exp reads format " + std::to_string(kCheckpointVersion));
  }
  return archive;
}

}  // namespace

std::string archive_bytes(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::string bytes;
  try {
    archive.save_to([&bytes](const void* data, size_t size) {
      bytes.append(static_cast<const char*>(data), size);
      return size;
    });
  } catch (const c10::Error& e) {
    throw OutputError(path + ": cannot serialise: " + first_line(e.what_without_backtrace()));
  }
  return bytes;
}

void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const torch::optim::Optimizer& optimizer, const TrainingState& state) {
  torch::serialize::OutputArchive archive;
  archive.write("version", torch::tensor(kCheckpointVersion));
  archive.write("position", torch::tensor({state.epoch, state.batches_done}));
  archive.write("seconds",
                torch::tensor({state.epoch_seconds, state.train_seconds}, torch::kFloat64));
  archive.write("metrics", metrics_to_tensor(state.epochs));
  if (state.last_evaluation.confusion.defined()) {
    archive.write("last_evaluation",
                  torch::tensor({state.last_evaluation.loss, state.last_evaluation.accuracy},
                                torch::kFloat64));
    archive.write("last_confusion", state.last_evaluation.confusion);
  }
  if (state.batches_done > 0) {
    archive.write("order", state.order);
    archive.write("loss_sum", state.loss_sum);
    archive.write("correct", state.correct);
    archive.write("learning_rate", torch::tensor(state.learning_rate, torch::kFloat64));
  }
  archive.write("cpu_rng_state", state.cpu_rng_state);
  if (state.augment_rng_state.defined())
    archive.write("augment_rng_state", state.augment_rng_state);
  if (state.cuda_rng_state.defined()) archive.write("cuda_rng_state", state.cuda_rng_state);

  if (!state.best_weights.empty()) {
    torch::serialize::OutputArchive best(archive.compilation_unit());
    for (size_t i = 0; i < state.best_weights.size(); ++i) {
      best.write("w" + std::to_string(i), state.best_weights[i].cpu());
    }
    archive.write("best_weights", best);
  }
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  save_module_on_cpu(model, model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  // The previous checkpoint stays as checkpoint.prev.pt: one intact copy survives anything.
  write_checked_file(path, archive_bytes(archive, path), /*keep_previous=*/true);
}

namespace {

TrainingState read_state(torch::serialize::InputArchive& archive, const std::string& path) {
  TrainingState state;
  auto position = read_tensor(archive, "position", path).cpu();
  state.epoch = position[0].item<int64_t>();
  state.batches_done = position[1].item<int64_t>();
  auto seconds = read_tensor(archive, "seconds", path).cpu();
  state.epoch_seconds = seconds[0].item<double>();
  state.train_seconds = seconds[1].item<double>();
  state.epochs = metrics_from_tensor(read_tensor(archive, "metrics", path));
  torch::Tensor evaluation;
  if (archive.try_read("last_evaluation", evaluation)) {
    evaluation = evaluation.cpu();
    state.last_evaluation.loss = evaluation[0].item<double>();
    state.last_evaluation.accuracy = evaluation[1].item<double>();
    state.last_evaluation.confusion = read_tensor(archive, "last_confusion", path).cpu();
  }
  if (state.batches_done > 0) {
    state.order = read_tensor(archive, "order", path);
    state.loss_sum = read_tensor(archive, "loss_sum", path);
    state.correct = read_tensor(archive, "correct", path);
    // Absent from checkpoints of older cifar-exp versions: not recorded.
    torch::Tensor rate;
    if (archive.try_read("learning_rate", rate)) state.learning_rate = rate.cpu().item<double>();
  }
  state.cpu_rng_state = read_tensor(archive, "cpu_rng_state", path).cpu();
  torch::Tensor augment_state, cuda_state;
  if (archive.try_read("augment_rng_state", augment_state)) {
    state.augment_rng_state = augment_state.cpu();
  }
  if (archive.try_read("cuda_rng_state", cuda_state)) state.cuda_rng_state = cuda_state.cpu();
  // Absent from checkpoints of runs that kept no best weights (and from older versions).
  torch::serialize::InputArchive best;
  if (archive.try_read("best_weights", best)) {
    // A fresh tensor each time: try_read() into a defined tensor overwrites it in place.
    for (torch::Tensor t; best.try_read("w" + std::to_string(state.best_weights.size()), t);
         t = torch::Tensor()) {
      state.best_weights.push_back(t);
    }
  }
  return state;
}

}  // namespace

namespace {

torch::Device device_of(const torch::nn::Module& model) {
  const auto parameters = model.parameters();
  return parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

// Loads the checkpoint's model (and, given one, optimizer) state; OutputError naming `path`
// when the checkpoint holds another model.
void load_model_state(torch::serialize::InputArchive& archive, const std::string& path,
                      torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive model_archive, optimizer_archive;
  if (!archive.try_read("model", model_archive) ||
      !archive.try_read("optimizer", optimizer_archive)) {
    throw OutputError(path + ": not a cifar-exp checkpoint (no model or optimizer state)");
  }
  try {
    model.load(model_archive);
    if (optimizer) optimizer->load(optimizer_archive);
  } catch (const c10::Error& e) {
    throw OutputError(path + ": checkpoint does not fit this run's model: " +
                      first_line(e.what_without_backtrace()));
  }
}

}  // namespace

std::string missing_checksum(const std::string& path) {
  return path + ": no checksum file " + path +
         ".crc32, so its integrity cannot be checked (cifar-exp writes both; copy them together)";
}

TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                              torch::optim::Optimizer& optimizer) {
  auto archive = open_archive(path, device_of(model));
  TrainingState state = read_state(archive, path);
  load_model_state(archive, path, model, &optimizer);
  return state;
}

void check_checkpoint_fits(const std::string& path, torch::nn::Module& model) {
  auto archive = open_archive(path, device_of(model));
  load_model_state(archive, path, model, nullptr);
}

TrainingState peek_checkpoint(const std::string& path) {
  auto archive = open_archive(path, torch::kCPU);
  return read_state(archive, path);
}

void save_module_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive) {
  // Module::save's layout: own parameters, own buffers, then one sub-archive per child.
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    archive.write(p.key(), p.value().cpu(), /*is_buffer=*/false);
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    archive.write(b.key(), b.value().cpu(), /*is_buffer=*/true);
  }
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    torch::serialize::OutputArchive child_archive(archive.compilation_unit());
    save_module_on_cpu(*child.value(), child_archive);
    archive.write(child.key(), child_archive);
  }
}

void save_model_file(const torch::nn::Module& module, const std::string& path) {
  torch::serialize::OutputArchive archive;
  save_module_on_cpu(module, archive);
  write_checked_file(path, archive_bytes(archive, path));
}

}  // namespace cifar_exp
