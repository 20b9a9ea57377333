#include "kernels/optimizer_update.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "math/common.h"
#include "math/elementwise_math.h"
#include "runtime/parallel.h"

namespace pyae {

namespace {

// Elements per block: a block's gradient parts are zeroed right after the
// update reads them, while they are still in L1.
constexpr std::size_t kBlock = 2048;

// The gradient of element i: share-weighted parts in shard order. kParts is
// 1 or 2 (compile-time, so the loops vectorise); more parts are folded into
// the first beforehand (fold_range).
template <int kParts>
struct Parts {
  float* g[2];
  float s[2];
  float at(std::size_t i) const {
    float x = s[0] * g[0][i];
    if constexpr (kParts == 2) x += s[1] * g[1][i];
    return x;
  }
  void zero(std::size_t b, std::size_t n) const {
    for (int t = 0; t < kParts; ++t) std::memset(g[t] + b, 0, n * sizeof(float));
  }
};

template <int kParts>
PYAE_MULTIVERSION void adam_range(float* p, float* m, float* v, Parts<kParts> g, std::size_t b,
                                  std::size_t e, float one_minus_beta1, float beta2,
                                  float one_minus_beta2, float step_size, float sqrt_bc2,
                                  float eps, bool consume) {
  for (std::size_t b0 = b; b0 < e; b0 += kBlock) {
    const std::size_t e0 = std::min(e, b0 + kBlock);
    for (std::size_t i = b0; i < e0; ++i) {
      float mi = m[i], vi = v[i];
      adam_moments(mi, vi, g.at(i), one_minus_beta1, beta2, one_minus_beta2);
      m[i] = mi;
      v[i] = vi;
      p[i] -= step_size * (mi / (std::sqrt(vi) / sqrt_bc2 + eps));
    }
    if (consume) g.zero(b0, e0 - b0);
  }
}

template <int kParts>
PYAE_MULTIVERSION void sgd_range(float* p, float* buf, Parts<kParts> g, std::size_t b,
                                 std::size_t e, float lr, float momentum, bool consume) {
  for (std::size_t b0 = b; b0 < e; b0 += kBlock) {
    const std::size_t e0 = std::min(e, b0 + kBlock);
    for (std::size_t i = b0; i < e0; ++i) {
      float bi = flush_subnormal(momentum * buf[i] + g.at(i));
      buf[i] = bi;
      p[i] -= lr * bi;
    }
    if (consume) g.zero(b0, e0 - b0);
  }
}

template <class Fn>
void over_chunks(std::size_t N, double passes, Fn fn) {
  run_parallel(threads_for_work(static_cast<double>(N) * passes), [&](int thread, int threads) {
    std::size_t b = N * thread / threads, e = N * (thread + 1) / threads;
    if (e > b) fn(b, e);
  });
}

// With more than two parts, elements [b, e) of part 0 = the share-weighted
// sum of all but the last (same order as summing all of them), the others'
// zeroed there.
void fold_range(const GradientParts& g, std::size_t b, std::size_t e) {
  float* first = g.part(0);
  const int T = g.count();
  for (std::size_t i = b; i < e; ++i) first[i] *= g.share(0);
  for (int t = 1; t + 1 < T; ++t) {
    const float share = g.share(t);
    const float* part = g.part(t);
    for (std::size_t i = b; i < e; ++i) first[i] += share * part[i];
    std::memset(g.part(t) + b, 0, (e - b) * sizeof(float));
  }
}

// The two parts left for the update once the leading ones are folded, the
// first with share 1.
Parts<2> last_two(const GradientParts& g) {
  const int T = g.count();
  if (T == 2) return Parts<2>{{g.part(0), g.part(1)}, {g.share(0), g.share(1)}};
  return Parts<2>{{g.part(0), g.part(T - 1)}, {1.0f, g.share(T - 1)}};
}

// Calls update(Parts<1 or 2>, b, e) for elements [b, e) on this thread.
template <class Update>
void parts_in_range(const GradientParts& g, std::size_t b, std::size_t e, Update update) {
  if (g.count() == 1) return update(Parts<1>{{g.part(0), nullptr}, {g.share(0), 0.0f}}, b, e);
  if (g.count() > 2) fold_range(g, b, e);
  update(last_two(g), b, e);
}

// Calls update(Parts<1 or 2>, begin, end) over the parts of g, in parallel
// chunks (each chunk's leading parts folded first, on its thread).
template <class Update>
void with_parts(const GradientParts& g, std::size_t N, bool consume, double passes,
                Update update) {
  check_gradient_parts(g, consume);
  const int T = g.count();
  const double work = passes + (T > 1 ? 2 : 0) + (T > 2 ? T : 0);  // passes over N
  over_chunks(N, work, [&](std::size_t b, std::size_t e) { parts_in_range(g, b, e, update); });
}

}  // namespace

void check_gradient_parts(const GradientParts& g, bool consume_grads) {
  if (g.count() < 1) throw std::invalid_argument("a gradient needs at least one part");
  for (int t = 0; t < g.count(); ++t)
    if (g.part(t) == nullptr) throw std::invalid_argument("a gradient part is null");
  if (g.count() > 2 && !consume_grads)
    throw std::invalid_argument("more than two gradient parts are folded in place: consume them");
}

namespace {

// Adam's per-step constants, formed in double (see AdamConfig).
struct AdamStep {
  float step_size, sqrt_bc2, omb1, beta2, omb2, eps;
  AdamStep(const AdamConfig& cfg, long long step) {
    const double bc1 = 1.0 - std::pow(cfg.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(cfg.beta2, static_cast<double>(step));
    step_size = static_cast<float>(cfg.lr / bc1);
    sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
    omb1 = static_cast<float>(1.0 - cfg.beta1);
    beta2 = static_cast<float>(cfg.beta2);
    omb2 = static_cast<float>(1.0 - cfg.beta2);
    eps = static_cast<float>(cfg.eps);
  }
};

}  // namespace

void adam_update(float* params, float* m, float* v, GradientParts grads, std::size_t N,
                 const AdamConfig& cfg, long long step, bool consume_grads) {
  const AdamStep k(cfg, step);
  with_parts(grads, N, consume_grads, 4.0, [&](auto g, std::size_t b, std::size_t e) {
    adam_range(params, m, v, g, b, e, k.omb1, k.beta2, k.omb2, k.step_size, k.sqrt_bc2, k.eps,
               consume_grads);
  });
}

void adam_update_range(float* params, float* m, float* v, const GradientParts& grads,
                       std::size_t b, std::size_t e, const AdamConfig& cfg, long long step) {
  const AdamStep k(cfg, step);
  parts_in_range(grads, b, e, [&](auto g, std::size_t b0, std::size_t e0) {
    adam_range(params, m, v, g, b0, e0, k.omb1, k.beta2, k.omb2, k.step_size, k.sqrt_bc2, k.eps,
               true);
  });
}

void sgd_momentum_update_range(float* params, float* momentum_buffer, const GradientParts& grads,
                               std::size_t b, std::size_t e, double lr, double momentum) {
  parts_in_range(grads, b, e, [&](auto g, std::size_t b0, std::size_t e0) {
    sgd_range(params, momentum_buffer, g, b0, e0, static_cast<float>(lr),
              static_cast<float>(momentum), true);
  });
}

void sgd_momentum_update(float* params, float* momentum_buffer, GradientParts grads,
                         std::size_t N, double lr, double momentum, bool consume_grads) {
  with_parts(grads, N, consume_grads, 4.0, [&](auto g, std::size_t b, std::size_t e) {
    sgd_range(params, momentum_buffer, g, b, e, static_cast<float>(lr),
              static_cast<float>(momentum), consume_grads);
  });
}

}  // namespace pyae
