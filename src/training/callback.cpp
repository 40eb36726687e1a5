// What fit()'s callbacks see (callback.h).
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

std::vector<double> EvaluationResult::per_class_accuracy() const {
  std::vector<double> result;
  if (!confusion.defined()) return result;
  auto rows = confusion.sum(1);
  for (int64_t c = 0; c < confusion.size(0); ++c) {
    const int64_t total = rows[c].item<int64_t>();
    result.push_back(total == 0 ? 0.0 : double(confusion[c][c].item<int64_t>()) / double(total));
  }
  return result;
}

std::vector<std::vector<int64_t>> EvaluationResult::confusion_rows() const {
  std::vector<std::vector<int64_t>> rows;
  if (!confusion.defined()) return rows;
  auto m = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  for (int64_t r = 0; r < m.size(0); ++r) {
    rows.emplace_back(m[r].data_ptr<int64_t>(), m[r].data_ptr<int64_t>() + m.size(1));
  }
  return rows;
}

FitState::FitState(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                   const TrainingConfig& training, int64_t train_size, torch::Device device)
    : model(model),
      optimizer(optimizer),
      training(training),
      device(device),
      batches(train_size, training.batch_size, device) {}

}  // namespace cifar_exp
