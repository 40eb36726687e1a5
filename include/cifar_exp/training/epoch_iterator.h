// The batches of one epoch of fit(): the shuffle and where in it training stands.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace cifar_exp {

// The batches of one epoch, as row indices on the training device: a fresh shuffle drawn from
// torch's global CPU generator (seeded by the run, so the order is the same on every device),
// or a resumed epoch's saved order from the batch where it stopped.
class EpochIterator {
 public:
  EpochIterator(int64_t size, int64_t batch_size, torch::Device device);
  void shuffle();
  void resume(const torch::Tensor& order, int64_t batches_done);
  bool done() const { return batch_ >= batches_per_epoch(); }
  torch::Tensor next();  // the next batch's indices; advances
  int64_t batches_done() const { return batch_; }
  int64_t batches_per_epoch() const { return (size_ + batch_size_ - 1) / batch_size_; }
  int64_t size() const { return size_; }
  const torch::Tensor& order() const { return order_; }

 private:
  int64_t size_, batch_size_, batch_ = 0;
  torch::Device device_;
  torch::Tensor order_;
};

}  // namespace cifar_exp
