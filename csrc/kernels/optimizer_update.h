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

// step is the 1-based count of this update (for the bias correction).
// With consume_grads the gradient is zeroed as it is read, ready for the
// next step's accumulation without a separate pass over memory.
void adam_update(float* params,  // (N)
                 float* m,       // (N) first moment
                 float* v,       // (N) second moment
                 float* grads,   // (N) read; zeroed if consume_grads
                 std::size_t N, const AdamConfig& cfg, long long step, bool consume_grads);

void sgd_momentum_update(float* params,           // (N)
                         float* momentum_buffer,  // (N)
                         float* grads,            // (N) read; zeroed if consume_grads
                         std::size_t N, double lr, double momentum, bool consume_grads);

}  // namespace pyae
