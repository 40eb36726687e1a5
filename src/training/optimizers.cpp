// Optimizers from the config (optimizers.h). This file is compiled with -fno-math-errno, so that
// the Adam update's square root vectorizes.
#include "cifar_exp/training/optimizers.h"

#include <cmath>
#include <sstream>
#include <type_traits>
#include <vector>

#include <ATen/Parallel.h>

namespace cifar_exp {

namespace {

// The key of a parameter's state in Optimizer::state_: libtorch 1.13 keys it by the address of
// the parameter's TensorImpl printed as text, 2.x by the address itself. (The one place that
// knows; `Map` is the state map's type.)
template <class Map>
typename Map::key_type optimizer_state_key(const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream key;  // what c10::guts::to_string prints for a pointer
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

// One Adam/AdamW step's constants, as libtorch's step computes them.
struct AdamStep {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float l2;            // Adam's weight decay: added to the gradient (0 for AdamW)
  float decay_factor;  // AdamW's decoupled decay: 1 - lr * weight_decay (1 for Adam)
  float step_size;     // lr / (1 - beta1^t)
  float bias_correction2_sqrt, eps;
};

// The whole update of n values in one pass (libtorch's takes about eight passes, each its own
// operator call): the same arithmetic in the same order, in float.
void adam_update(float* __restrict p, const float* __restrict g, float* __restrict m,
                 float* __restrict v, int64_t n, const AdamStep& c) {
  at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float decayed = p[i] * c.decay_factor;
      const float grad = g[i] + c.l2 * decayed;
      const float mean = m[i] * c.beta1 + c.one_minus_beta1 * grad;
      const float square = v[i] * c.beta2 + c.one_minus_beta2 * grad * grad;
      m[i] = mean;
      v[i] = square;
      p[i] = decayed - c.step_size * (mean / (std::sqrt(square) / c.bias_correction2_sqrt + c.eps));
    }
  });
}

// libtorch's Adam (or AdamW) whose step, where every parameter is a dense float32 CPU tensor
// laid out as its gradient and moments, runs the update above instead of its per-operator one.
// The state (step, exp_avg, exp_avg_sq) is libtorch's own, under its own keys, so save/load and
// checkpoints are unchanged; elsewhere (CUDA, amsgrad, other dtypes) libtorch's step runs.
template <class Base, class Options, class State, bool kDecoupledDecay>
class FusedAdam : public Base {
 public:
  using Base::Base;

  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override {
    // Each parameter's state key, made once per step (in 1.13 it is formatted text).
    std::vector<typename std::remove_reference_t<decltype(this->state_)>::key_type> keys;
    if (!fusable(keys)) return Base::step(closure);
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable_grad(true);
      loss = closure();
    }
    size_t next_key = 0;
    for (torch::optim::OptimizerParamGroup& group : this->param_groups_) {
      const auto& options = static_cast<const Options&>(group.options());
      for (torch::Tensor& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& slot = this->state_[keys[next_key++]];
        if (!slot) {
          auto fresh = std::make_unique<State>();
          fresh->step(0);
          fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          slot = std::move(fresh);
        }
        auto& state = static_cast<State&>(*slot);
        state.step(state.step() + 1);
        const auto [beta1, beta2] = options.betas();
        const double t = double(state.step());
        const double lr = options.lr(), decay = options.weight_decay();
        const AdamStep c{float(beta1),
                         float(beta2),
                         float(1 - beta1),
                         float(1 - beta2),
                         kDecoupledDecay ? 0.0f : float(decay),
                         kDecoupledDecay ? float(1 - lr * decay) : 1.0f,
                         float(lr / (1 - std::pow(beta1, t))),
                         float(std::sqrt(1 - std::pow(beta2, t))),
                         float(options.eps())};
        adam_update(p.data_ptr<float>(), p.grad().data_ptr<float>(),
                    state.exp_avg().template data_ptr<float>(),
                    state.exp_avg_sq().template data_ptr<float>(), p.numel(), c);
      }
    }
    return loss;
  }

 private:
  // Whether every parameter with a gradient can take the one-pass update; `keys` gets their
  // state keys, in the order step() visits them.
  template <class Key>
  bool fusable(std::vector<Key>& keys) const {
    for (const torch::optim::OptimizerParamGroup& group : this->param_groups_) {
      if (static_cast<const Options&>(group.options()).amsgrad()) return false;
      for (const torch::Tensor& p : group.params()) {
        const torch::Tensor& g = p.grad();
        if (!g.defined()) continue;
        // Element i of each is at the same offset: one flat loop updates them all (also in
        // channels-last, the layout the models keep their convolution weights in).
        auto same_layout = [&p](const torch::Tensor& t) {
          return t.device().is_cpu() && t.scalar_type() == torch::kFloat && !t.is_sparse() &&
                 t.sizes() == p.sizes() && t.strides() == p.strides();
        };
        if (!p.is_non_overlapping_and_dense() || !same_layout(p) || !same_layout(g)) return false;
        keys.push_back(optimizer_state_key<decltype(this->state_)>(p));
        auto it = this->state_.find(keys.back());
        if (it != this->state_.end()) {
          const auto& s = static_cast<const State&>(*it->second);
          if (!same_layout(s.exp_avg()) || !same_layout(s.exp_avg_sq())) return false;
        }
      }
    }
    return true;
  }
};

using FusedAdamOptimizer =
    FusedAdam<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState, false>;
using FusedAdamWOptimizer =
    FusedAdam<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState, true>;

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters,
                                                        const TrainingConfig& c) {
  using namespace torch::optim;
  switch (c.optimizer) {
    case Optimizer::kAdam:
      return std::make_unique<FusedAdamOptimizer>(
          parameters, AdamOptions(c.learning_rate).betas({c.beta1, c.beta2}).eps(c.epsilon));
    case Optimizer::kAdamW:
      return std::make_unique<FusedAdamWOptimizer>(parameters, AdamWOptions(c.learning_rate)
                                                                   .betas({c.beta1, c.beta2})
                                                                   .eps(c.epsilon)
                                                                   .weight_decay(c.weight_decay));
    case Optimizer::kSgd:
      return std::make_unique<SGD>(parameters, SGDOptions(c.learning_rate)
                                                   .momentum(c.momentum)
                                                   .nesterov(c.nesterov)
                                                   .weight_decay(c.weight_decay));
    case Optimizer::kRmsprop:
      return std::make_unique<RMSprop>(
          parameters,
          RMSpropOptions(c.learning_rate).alpha(c.rho).eps(c.epsilon).momentum(c.momentum));
  }
  throw std::logic_error("make_optimizer: unknown optimizer");
}

double learning_rate(const torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().at(0).options().get_lr();
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double rate) {
  for (auto& group : optimizer.param_groups()) {
    group.options().set_lr(rate);
  }
}

}  // namespace cifar_exp
