#include "kernels/optimizer_update.h"

#include <cmath>
#include <cstring>

#include "math/common.h"
#include "runtime/parallel.h"

namespace pyae {

namespace {

PYAE_MULTIVERSION void adam_range(float* p, float* m, float* v, float* g, std::size_t n,
                                  float one_minus_beta1, float beta2, float one_minus_beta2,
                                  float step_size, float sqrt_bc2, float eps, bool consume) {
  for (std::size_t i = 0; i < n; ++i) {
    float mi = m[i] + one_minus_beta1 * (g[i] - m[i]);
    float vi = v[i] * beta2 + one_minus_beta2 * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (std::sqrt(vi) / sqrt_bc2 + eps));
  }
  if (consume) std::memset(g, 0, n * sizeof(float));  // still in cache
}

PYAE_MULTIVERSION void sgd_range(float* p, float* buf, float* g, std::size_t n, float lr,
                                 float momentum, bool consume) {
  for (std::size_t i = 0; i < n; ++i) {
    float b = momentum * buf[i] + g[i];
    buf[i] = b;
    p[i] -= lr * b;
  }
  if (consume) std::memset(g, 0, n * sizeof(float));
}

template <class Fn>
void over_chunks(std::size_t N, Fn fn) {
  run_parallel(threads_for_work(static_cast<double>(N) * 4.0), [&](int thread, int threads) {
    std::size_t b = N * thread / threads, e = N * (thread + 1) / threads;
    if (e > b) fn(b, e - b);
  });
}

}  // namespace

void adam_update(float* params, float* m, float* v, float* grads, std::size_t N,
                 const AdamConfig& cfg, long long step, bool consume_grads) {
  double bc1 = 1.0 - std::pow(cfg.beta1, static_cast<double>(step));
  double bc2 = 1.0 - std::pow(cfg.beta2, static_cast<double>(step));
  float step_size = static_cast<float>(cfg.lr / bc1);
  float sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
  float omb1 = static_cast<float>(1.0 - cfg.beta1);
  float beta2 = static_cast<float>(cfg.beta2);
  float omb2 = static_cast<float>(1.0 - cfg.beta2);
  float eps = static_cast<float>(cfg.eps);
  over_chunks(N, [&](std::size_t b, std::size_t n) {
    adam_range(params + b, m + b, v + b, grads + b, n, omb1, beta2, omb2, step_size, sqrt_bc2,
               eps, consume_grads);
  });
}

void sgd_momentum_update(float* params, float* momentum_buffer, float* grads, std::size_t N,
                         double lr, double momentum, bool consume_grads) {
  over_chunks(N, [&](std::size_t b, std::size_t n) {
    sgd_range(params + b, momentum_buffer + b, grads + b, n, static_cast<float>(lr),
              static_cast<float>(momentum), consume_grads);
  });
}

}  // namespace pyae
