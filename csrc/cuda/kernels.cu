#include "kernels.cuh"

#include "../elementwise_math.h"
#include "../noise_math.h"
#include "../philox.h"

namespace pyae::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(std::size_t n) {
  std::size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 8 ? (b == 0 ? 1 : b) : 65535 * 8);
}

#define PYAE_GRID_STRIDE(i, n)                                                          \
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; \
       i < (n); i += static_cast<std::size_t>(blockDim.x) * gridDim.x)

__global__ void bias_activation_kernel(float* out, const float* bias, int B, int D,
                                       Activation act) {
  PYAE_GRID_STRIDE(i, static_cast<std::size_t>(B) * D) {
    out[i] = activate(out[i] + bias[i % D], act);
  }
}

// One thread per column: the bias sum runs over rows in order, so the
// result does not depend on the launch shape.
__global__ void activation_backward_kernel(float* dpre, float* dbias, const float* dout,
                                           const float* out, int B, int D, Activation act) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= D) return;
  float sum = 0.0f;
  for (int r = 0; r < B; ++r) {
    std::size_t o = static_cast<std::size_t>(r) * D + c;
    float g = dout[o] * activation_grad_from_output(out[o], act);
    dpre[o] = g;
    sum += g;
  }
  dbias[c] += sum;
}

// One thread per Philox block: it owns lanes 0..3, elements chunk * 256 +
// lane * 64 + j (see philox.h), so consecutive threads write consecutive
// addresses for each lane.
__device__ float draw(const Philox4& w, int lane, bool normal) {
  return normal ? normal_from_block(w, lane) : uniform_open01(w.v[lane]);
}

__device__ float corrupt_one(float x, float draw_value, const NoiseConfig& cfg) {
  switch (cfg.kind) {
    case NoiseKind::gaussian: return gaussian_corrupt(x, draw_value, cfg.a, cfg.lo, cfg.hi);
    case NoiseKind::salt_and_pepper:
      return salt_and_pepper_corrupt(x, draw_value, cfg.a, cfg.b, cfg.lo, cfg.hi);
    case NoiseKind::masking: return masking_corrupt(x, draw_value, cfg.a);
    default: return x;
  }
}

__global__ void noise_kernel(float* out, const float* inp, std::size_t N, NoiseConfig cfg,
                             bool normal, std::uint64_t seed, std::uint64_t stream_id,
                             std::uint64_t first, std::uint64_t first_block,
                             std::uint64_t n_blocks) {
  PYAE_GRID_STRIDE(t, n_blocks) {
    std::uint64_t block = first_block + t;
    std::uint64_t chunk = block / kPhiloxChunkBlocks, j = block % kPhiloxChunkBlocks;
    Philox4 w = philox_block(seed, stream_id, block);
    for (int lane = 0; lane < 4; ++lane) {
      std::uint64_t e = chunk * kPhiloxChunkElems + lane * kPhiloxChunkBlocks + j;
      if (e < first || e >= first + N) continue;
      float d = draw(w, lane, normal);
      std::size_t at = static_cast<std::size_t>(e - first);
      out[at] = inp == nullptr ? d : corrupt_one(inp[at], d, cfg);
    }
  }
}

cudaError_t launch_noise(float* out, const float* inp, std::size_t N, NoiseConfig cfg,
                         bool normal, std::uint64_t seed, std::uint64_t stream_id,
                         std::uint64_t first, cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  std::uint64_t first_block = first / kPhiloxChunkElems * kPhiloxChunkBlocks;
  std::uint64_t last_block = ((first + N - 1) / kPhiloxChunkElems + 1) * kPhiloxChunkBlocks;
  std::uint64_t n_blocks = last_block - first_block;
  noise_kernel<<<blocks_for(n_blocks), kThreads, 0, stream>>>(out, inp, N, cfg, normal, seed,
                                                              stream_id, first, first_block,
                                                              n_blocks);
  return cudaGetLastError();
}

__global__ void reparam_forward_kernel(float* z, const float* ml, const float* eps, int B,
                                       int Z) {
  PYAE_GRID_STRIDE(i, static_cast<std::size_t>(B) * Z) {
    std::size_t b = i / Z, j = i % Z;
    const float* row = ml + b * 2 * Z;
    z[i] = fmadd(fast_exp(0.5f * row[Z + j]), eps[i], row[j]);
  }
}

__global__ void reparam_backward_kernel(float* dml, const float* dz, const float* z,
                                        const float* ml, int B, int Z) {
  PYAE_GRID_STRIDE(i, static_cast<std::size_t>(B) * Z) {
    std::size_t b = i / Z, j = i % Z;
    dml[b * 2 * Z + j] += dz[i];
    dml[b * 2 * Z + Z + j] += 0.5f * dz[i] * (z[i] - ml[b * 2 * Z + j]);
  }
}

__global__ void kl_kernel(float* dml, float* row_kl, const float* ml, int B, int Z,
                          float grad_scale) {
  int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const float* mu = ml + static_cast<std::size_t>(b) * 2 * Z;
  const float* lv = mu + Z;
  double sum = 0.0;
  for (int j = 0; j < Z; ++j) {
    float var = fast_exp(lv[j]);
    sum += static_cast<double>(1.0f + lv[j] - mu[j] * mu[j] - var);
    if (dml != nullptr) {
      dml[static_cast<std::size_t>(b) * 2 * Z + j] += grad_scale * mu[j];
      dml[static_cast<std::size_t>(b) * 2 * Z + Z + j] += grad_scale * 0.5f * (var - 1.0f);
    }
  }
  row_kl[b] = static_cast<float>(-0.5 * sum);
}

__global__ void loss_rows_kernel(float* grad, float* row_sum, const float* pred,
                                 const float* target, int B, int D, bool bce, float grad_scale) {
  int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  std::size_t o = static_cast<std::size_t>(b) * D;
  double sum = 0.0;
  for (int j = 0; j < D; ++j) {
    float p = pred[o + j], t = target[o + j];
    if (bce) {
      sum += static_cast<double>(bce_with_logits(p, t));
      if (grad != nullptr) grad[o + j] += grad_scale * (sigmoid(p) - t);
    } else {
      float diff = p - t;
      sum += static_cast<double>(diff * diff);
      if (grad != nullptr) grad[o + j] += grad_scale * diff;
    }
  }
  row_sum[b] = static_cast<float>(sum);
}

__global__ void adam_kernel(float* p, float* m, float* v, const float* g, std::size_t n,
                            float omb1, float beta2, float omb2, float step_size, float sqrt_bc2,
                            float eps) {
  PYAE_GRID_STRIDE(i, n) {
    float mi = m[i] + omb1 * (g[i] - m[i]);
    float vi = v[i] * beta2 + omb2 * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
  }
}

__global__ void sgd_kernel(float* p, float* buf, const float* g, std::size_t n, float lr,
                           float momentum) {
  PYAE_GRID_STRIDE(i, n) {
    float b = momentum * buf[i] + g[i];
    buf[i] = b;
    p[i] -= lr * b;
  }
}

}  // namespace

cudaError_t bias_activation(float* out, const float* bias, int B, int D, Activation act,
                            cudaStream_t stream) {
  bias_activation_kernel<<<blocks_for(static_cast<std::size_t>(B) * D), kThreads, 0, stream>>>(
      out, bias, B, D, act);
  return cudaGetLastError();
}

cudaError_t activation_backward(float* dpre, float* dbias, const float* dout, const float* out,
                                int B, int D, Activation act, cudaStream_t stream) {
  activation_backward_kernel<<<(D + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      dpre, dbias, dout, out, B, D, act);
  return cudaGetLastError();
}

cudaError_t corrupt(float* out, const float* inp, std::size_t N, NoiseConfig cfg,
                    std::uint64_t seed, std::uint64_t stream_id, std::uint64_t first_index,
                    cudaStream_t stream) {
  return launch_noise(out, inp, N, cfg, cfg.kind == NoiseKind::gaussian, seed, stream_id,
                      first_index, stream);
}

cudaError_t philox_draws(float* out, std::size_t N, bool normal, std::uint64_t seed,
                         std::uint64_t stream_id, std::uint64_t first_index,
                         cudaStream_t stream) {
  NoiseConfig none{NoiseKind::none, 0, 0, 0, 0};
  return launch_noise(out, nullptr, N, none, normal, seed, stream_id, first_index, stream);
}

cudaError_t reparameterize_forward(float* z, const float* mu_logvar, const float* eps, int B,
                                   int Z, cudaStream_t stream) {
  reparam_forward_kernel<<<blocks_for(static_cast<std::size_t>(B) * Z), kThreads, 0, stream>>>(
      z, mu_logvar, eps, B, Z);
  return cudaGetLastError();
}

cudaError_t reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                                    const float* mu_logvar, int B, int Z, cudaStream_t stream) {
  reparam_backward_kernel<<<blocks_for(static_cast<std::size_t>(B) * Z), kThreads, 0, stream>>>(
      dmu_logvar, dz, z, mu_logvar, B, Z);
  return cudaGetLastError();
}

cudaError_t kl_backward(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
                        float grad_scale, cudaStream_t stream) {
  kl_kernel<<<(B + kThreads - 1) / kThreads, kThreads, 0, stream>>>(dmu_logvar, row_kl,
                                                                     mu_logvar, B, Z, grad_scale);
  return cudaGetLastError();
}

cudaError_t loss_rows(float* grad, float* row_sum, const float* pred, const float* target, int B,
                      int D, bool bce, float grad_scale, cudaStream_t stream) {
  loss_rows_kernel<<<(B + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      grad, row_sum, pred, target, B, D, bce, grad_scale);
  return cudaGetLastError();
}

cudaError_t adam_update(float* params, float* m, float* v, const float* grads, std::size_t N,
                        float one_minus_beta1, float beta2, float one_minus_beta2,
                        float step_size, float sqrt_bc2, float eps, cudaStream_t stream) {
  adam_kernel<<<blocks_for(N), kThreads, 0, stream>>>(params, m, v, grads, N, one_minus_beta1,
                                                      beta2, one_minus_beta2, step_size,
                                                      sqrt_bc2, eps);
  return cudaGetLastError();
}

cudaError_t sgd_momentum_update(float* params, float* buf, const float* grads, std::size_t N,
                                float lr, float momentum, cudaStream_t stream) {
  sgd_kernel<<<blocks_for(N), kThreads, 0, stream>>>(params, buf, grads, N, lr, momentum);
  return cudaGetLastError();
}

}  // namespace pyae::cuda
