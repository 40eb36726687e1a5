// The batches of one epoch (epoch_iterator.h).
#include "cifar_exp/training/epoch_iterator.h"

#include <algorithm>

#include "cifar_exp/data/device.h"

namespace cifar_exp {

EpochIterator::EpochIterator(int64_t size, int64_t batch_size, torch::Device device)
    : size_(size), batch_size_(batch_size), device_(device) {}

void EpochIterator::shuffle() {
  order_ = upload(torch::randperm(size_, torch::kInt64), device_);
  batch_ = 0;
}

void EpochIterator::resume(const torch::Tensor& order, int64_t batches_done) {
  order_ = upload(order, device_);
  batch_ = batches_done;
}

torch::Tensor EpochIterator::next() {
  const int64_t start = batch_ * batch_size_;
  ++batch_;
  return order_.narrow(0, start, std::min(batch_size_, size_ - start));
}

}  // namespace cifar_exp
