// Fused optimiser updates over one flat parameter buffer of N floats.
// Formulas match torch.optim (Adam with bias correction, SGD with momentum
// and no dampening), so trajectories can be compared step for step.
#pragma once

#include <cstddef>

namespace pyae {

struct AdamConfig {
  float lr, beta1, beta2, eps;
};

// step is the 1-based count of this update (for the bias correction).
void adam_update(float* params,       // (N)
                 float* m,            // (N) first moment
                 float* v,            // (N) second moment
                 const float* grads,  // (N)
                 std::size_t N, const AdamConfig& cfg, long long step);

void sgd_momentum_update(float* params,          // (N)
                         float* momentum_buffer,  // (N)
                         const float* grads,      // (N)
                         std::size_t N, float lr, float momentum);

}  // namespace pyae
