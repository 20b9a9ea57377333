// Fused optimiser updates over one flat parameter buffer of N floats.
// Formulas and operation order follow torch.optim's single-tensor path (Adam
// with bias correction, m updated by lerp; SGD with momentum, no dampening),
// so trajectories can be compared step for step.
#pragma once

#include <cstddef>

namespace pyae {

// Hyperparameters stay double until the per-step constants are formed, as
// in torch.optim (1 - 0.999 in float32 would be off by 1.3e-5 relative).
struct AdamConfig {
  double lr, beta1, beta2, eps;
};

// A step's gradient as the share-weighted sum of per-shard buffers (a
// sharded training step, models/network.cpp), summed in shard order:
// g = (share[0] * parts[0] + share[1] * parts[1]) + ... The update reads the
// parts in its own pass over memory instead of a separate summing pass (at
// batch 128 on 2 cores the two passes were 20% of a step).
class GradientParts {
 public:
  GradientParts(float* const* parts,  // count buffers of (N)
                const float* shares,  // (count)
                int count)
      : parts_(parts), shares_(shares), count_(count) {}
  explicit GradientParts(float* whole) : whole_(whole), count_(1) {}  // (N), share 1

  int count() const { return count_; }
  float* part(int t) const { return parts_ != nullptr ? parts_[t] : whole_; }
  float share(int t) const { return shares_ != nullptr ? shares_[t] : 1.0f; }

 private:
  float* const* parts_ = nullptr;
  const float* shares_ = nullptr;
  float* whole_ = nullptr;
  int count_;
};

// step is the 1-based count of this update (for the bias correction).
// With consume_grads every part is zeroed as it is read, ready for the
// next step's accumulation without a separate pass over memory. More than
// two parts are folded into the first in place, so they need consume_grads.
void adam_update(float* params,  // (N)
                 float* m,       // (N) first moment
                 float* v,       // (N) second moment
                 GradientParts grads, std::size_t N, const AdamConfig& cfg, long long step,
                 bool consume_grads);

void sgd_momentum_update(float* params,           // (N)
                         float* momentum_buffer,  // (N)
                         GradientParts grads, std::size_t N, double lr, double momentum,
                         bool consume_grads);

// The same updates of elements [b, e) only, on the calling thread, each
// part of grads zeroed as it is read (the same bits as the whole update):
// a step's threads each update the parameters they own. grads must pass
// check_gradient_parts(grads, true), checked by the caller.
void adam_update_range(float* params, float* m, float* v,  // (N) each
                       const GradientParts& grads,         // parts of (N)
                       std::size_t b, std::size_t e, const AdamConfig& cfg, long long step);
void sgd_momentum_update_range(float* params, float* momentum_buffer,  // (N) each
                               const GradientParts& grads,             // parts of (N)
                               std::size_t b, std::size_t e, double lr, double momentum);

// Throws std::invalid_argument unless g names 1 or more parts (and, past
// two, consume_grads): the updates call it before changing anything.
void check_gradient_parts(const GradientParts& g, bool consume_grads);

}  // namespace pyae
