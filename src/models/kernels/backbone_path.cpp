// The small-map rule, libtorch's direct path and the split one (backbone_path.h).
#include "cifar_exp/models/kernels/backbone_path.h"

#include "cifar_exp/models/kernels/kernels.h"

namespace cifar_exp {

bool small_map(int64_t height, int64_t width) { return height <= 2 && width <= 2; }

size_t first_small_map(const std::vector<BackboneLayer>& layers, int64_t height, int64_t width) {
  for (size_t i = 0; i < layers.size(); ++i) {
    if (small_map(height, width)) return i;
    if (layers[i].pool_after) height /= 2, width /= 2;
  }
  return layers.size();
}

torch::Tensor DirectBackbone::forward(const torch::Tensor& x,
                                      const std::vector<BackboneLayer>& layers) {
  torch::Tensor current = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (const auto& layer : layers) {
    current = torch::conv2d(current, layer.weight, layer.bias, 1, 1);
    current = layer.pool_after ? max_pool2_relu(current) : current.relu_();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  last_layers_ = layers.size();
  return current;
}

std::vector<std::string> DirectBackbone::last_algorithms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::vector<std::string>(last_layers_, "direct");
}

SmallMapsBeside::SmallMapsBeside(std::shared_ptr<BackbonePath> before,
                                 std::shared_ptr<BackbonePath> small_maps)
    : before_(std::move(before)), small_maps_(std::move(small_maps)) {}

std::string SmallMapsBeside::name() const {
  return before_->name() + " + " + small_maps_->name() + " for small maps";
}

torch::Tensor SmallMapsBeside::forward(const torch::Tensor& x,
                                       const std::vector<BackboneLayer>& layers) {
  const size_t split = first_small_map(layers, x.size(2), x.size(3));
  std::vector<std::string> algorithms;
  auto run = [&](BackbonePath& path, const torch::Tensor& input, size_t begin, size_t end) {
    const std::vector<BackboneLayer> part(layers.begin() + begin, layers.begin() + end);
    torch::Tensor y = path.forward(input, part);
    const auto ran = path.last_algorithms();
    algorithms.insert(algorithms.end(), ran.begin(), ran.end());
    return y;
  };
  torch::Tensor y;
  if (split == 0) {
    y = run(*small_maps_, x, 0, layers.size());
  } else {
    y = run(*before_, x, 0, split);
    if (split < layers.size()) y = run(*small_maps_, y, split, layers.size());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  last_algorithms_ = std::move(algorithms);
  return y;
}

std::vector<std::string> SmallMapsBeside::last_algorithms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_algorithms_;
}

}  // namespace cifar_exp
