#include "optim.h"

#include <cmath>

#include "common.h"
#include "parallel.h"

namespace pyae {

namespace {

PYAE_MULTIVERSION void adam_range(float* p, float* m, float* v, const float* g, std::size_t n,
                                  float beta1, float beta2, float step_size,
                                  float inv_sqrt_bc2, float eps) {
  for (std::size_t i = 0; i < n; ++i) {
    float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
    float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

PYAE_MULTIVERSION void sgd_range(float* p, float* buf, const float* g, std::size_t n, float lr,
                                 float momentum) {
  for (std::size_t i = 0; i < n; ++i) {
    float b = momentum * buf[i] + g[i];
    buf[i] = b;
    p[i] -= lr * b;
  }
}

template <class Fn>
void over_chunks(std::size_t N, Fn fn) {
  run_parallel(threads_for_work(static_cast<double>(N) * 4.0), [&](int thread, int threads) {
    std::size_t b = N * thread / threads, e = N * (thread + 1) / threads;
    if (e > b) fn(b, e - b);
  });
}

}  // namespace

void adam_update(float* params, float* m, float* v, const float* grads, std::size_t N,
                 const AdamConfig& cfg, long long step) {
  double bc1 = 1.0 - std::pow(static_cast<double>(cfg.beta1), static_cast<double>(step));
  double bc2 = 1.0 - std::pow(static_cast<double>(cfg.beta2), static_cast<double>(step));
  float step_size = static_cast<float>(cfg.lr / bc1);
  float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  over_chunks(N, [&](std::size_t b, std::size_t n) {
    adam_range(params + b, m + b, v + b, grads + b, n, cfg.beta1, cfg.beta2, step_size,
               inv_sqrt_bc2, cfg.eps);
  });
}

void sgd_momentum_update(float* params, float* momentum_buffer, const float* grads, std::size_t N,
                         float lr, float momentum) {
  over_chunks(N, [&](std::size_t b, std::size_t n) {
    sgd_range(params + b, momentum_buffer + b, grads + b, n, lr, momentum);
  });
}

}  // namespace pyae
