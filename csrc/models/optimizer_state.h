// Optimiser state for one flat parameter buffer of N floats: the update
// rule, its hyperparameters, the step count and the moment buffers.
#pragma once

#include <cmath>
#include <stdexcept>

#include "runtime/buffer.h"
#include "kernels/optimizer_update.h"
#include "math/enums.h"

namespace pyae {

struct OptimizerConfig {
  OptimizerKind kind;
  double lr, beta1, beta2, eps, momentum;
};

class Optimizer {
 public:
  explicit Optimizer(const OptimizerConfig& cfg) : cfg_(cfg) {}

  // Sizes (and zeroes) the moment buffers for n parameters.
  void allocate(std::size_t n) {
    state_[0].resize(n);
    if (cfg_.kind == OptimizerKind::adam) state_[1].resize(n);
  }

  // One update; every part of grads (N each) is read and zeroed for the
  // next accumulation.
  void step(float* params, GradientParts grads, std::size_t n) {
    check_gradient_parts(grads, true);  // before the count moves
    ++step_;
    switch (cfg_.kind) {
      case OptimizerKind::adam:
        return adam_update(params, state_[0].data(), state_[1].data(), grads, n,
                           AdamConfig{cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps}, step_,
                           /*consume_grads=*/true);
      case OptimizerKind::sgd:
        return sgd_momentum_update(params, state_[0].data(), grads, n, cfg_.lr, cfg_.momentum,
                                   /*consume_grads=*/true);
    }
  }

  // Part of update number `step` (step_count() + 1): a step whose threads
  // each update their own ranges, the caller moving the count once after.
  void update_range(float* params, const GradientParts& grads, std::size_t b, std::size_t e,
                    long long step) {
    if (cfg_.kind == OptimizerKind::adam)
      adam_update_range(params, state_[0].data(), state_[1].data(), grads, b, e,
                        AdamConfig{cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps}, step);
    else
      sgd_momentum_update_range(params, state_[0].data(), grads, b, e, cfg_.lr, cfg_.momentum);
  }

  float* state(int which) {  // 0: Adam m / SGD momentum, 1: Adam v
    if (which < 0 || which > 1 || state_[which].size() == 0) return nullptr;
    return state_[which].data();
  }
  long long step_count() const { return step_; }
  void set_step_count(long long s) {
    // Adam's bias correction divides by 1 - beta^step, with step >= 1.
    if (s < 0) throw std::invalid_argument("the step count must be >= 0");
    step_ = s;
  }
  void set_learning_rate(double lr) {
    if (!(lr > 0.0) || !std::isfinite(lr))
      throw std::invalid_argument("the learning rate must be a positive finite number");
    cfg_.lr = lr;
  }

 private:
  OptimizerConfig cfg_;
  long long step_ = 0;
  FloatBuffer state_[2];  // (N) each
};

}  // namespace pyae
