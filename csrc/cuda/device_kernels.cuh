// pyae's CUDA kernels. One source for two compilers: nvcc builds it into
// pyae._cuda (kernels.cu adds the launch table), and without that extension
// NVRTC compiles this same file at run time through cupy.RawModule. So the
// kernels are extern "C" with plain scalar arguments, and the per-element
// math comes from the headers the CPU build uses (same bits for the noise).
// Every kernel here is listed in kernel_list.h; its launch shape and typed
// arguments are in pyae/_gpu/kernels.py (class Kernels).
//
// Shapes: B batch, D features (D_out for a dense layer), Z latent, N flat.
// Layouts are row-major; gradients accumulate, as on the CPU (common.h).
//
// Values that change every training step (the step count, the row cursor)
// are read from device memory (`counters`) rather than passed, so a step
// captured once in a CUDA graph can be replayed for every batch.
//   counters[0]: optimiser steps taken (the noise / epsilon stream)
//   counters[1]: rows of the epoch's order already consumed
#pragma once

#include "../math/elementwise_math.h"
#include "../math/noise_math.h"
#include "../math/philox.h"

#define PYAE_GRID_STRIDE(i, n)                                                                  \
  for (unsigned long long i = blockIdx.x * static_cast<unsigned long long>(blockDim.x) +       \
                              threadIdx.x;                                                      \
       i < (n); i += static_cast<unsigned long long>(blockDim.x) * gridDim.x)

// Threads per block for pyae_loss_rows and pyae_accumulate (a power of two).
#define PYAE_REDUCE_THREADS 256

namespace pyae::cuda_detail {

// Tree sum of one value per thread in shared memory; the result is in
// s[0]. Fixed shape, so the order of additions never changes.
__device__ __forceinline__ void block_sum(double* s, double value) {
  s[threadIdx.x] = value;
  __syncthreads();
  for (int width = PYAE_REDUCE_THREADS / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) s[threadIdx.x] += s[threadIdx.x + width];
    __syncthreads();
  }
}

__device__ __forceinline__ float corrupt_one(float x, float draw, int kind, float a, float b,
                                             float lo, float hi) {
  switch (kind) {
    case 1: return gaussian_corrupt(x, draw, a, lo, hi);
    case 2: return salt_and_pepper_corrupt(x, draw, a, b, lo, hi);
    case 3: return masking_corrupt(x, draw, a);
    default: return x;
  }
}

}  // namespace pyae::cuda_detail

extern "C" {

// out (B, D) = act(out + bias (D)), in place after the GEMM; pre (B, D), if
// not null, keeps out + bias (for activations whose gradient needs it).
__global__ void pyae_bias_activation(float* out, float* pre, const float* bias, int B, int D,
                                     int act) {
  PYAE_GRID_STRIDE(i, static_cast<unsigned long long>(B) * D) {
    float x = out[i] + bias[i % D];
    if (pre != nullptr) pre[i] = x;
    out[i] = pyae::activate(x, static_cast<pyae::Activation>(act));
  }
}

// dpre (N) = dout (N) * act'(pre (N), out (N)); dpre may alias dout; pre is
// read only for activations that need it (else it may be null).
__global__ void pyae_activation_grad(float* dpre, const float* dout, const float* out,
                                     const float* pre, unsigned long long N, int act) {
  const pyae::Activation a = static_cast<pyae::Activation>(act);
  const bool keep = pyae::needs_preactivation(a);
  PYAE_GRID_STRIDE(i, N) {
    dpre[i] = dout[i] * pyae::activation_grad(out[i], keep ? pre[i] : 0.0f, a);
  }
}

// out (B, D) = rows order[counters[1] + r] of data (n, D).
__global__ void pyae_gather_rows(float* out, const float* data, const long long* order,
                                 const unsigned long long* counters, int B, int D) {
  const unsigned long long first = counters[1];
  PYAE_GRID_STRIDE(i, static_cast<unsigned long long>(B) * D) {
    unsigned long long r = i / D, c = i % D;
    out[i] = data[static_cast<unsigned long long>(order[first + r]) * D + c];
  }
}

// One thread per Philox block (see philox.h): it owns lanes 0..3, elements
// chunk * 256 + lane * 64 + j. out (N) = noise(inp (N)), or the raw draws
// (normals if `normal`, else uniforms) when inp is null. The stream is
// stream + counters[0] when counters is not null.
__global__ void pyae_noise(float* out, const float* inp, unsigned long long N, int kind, float a,
                           float b, float lo, float hi, int normal, unsigned long long seed,
                           unsigned long long stream, const unsigned long long* counters,
                           unsigned long long first, unsigned long long first_block,
                           unsigned long long n_blocks) {
  if (counters != nullptr) stream += counters[0];
  PYAE_GRID_STRIDE(t, n_blocks) {
    unsigned long long block = first_block + t;
    unsigned long long chunk = block / pyae::kPhiloxChunkBlocks;
    unsigned long long j = block % pyae::kPhiloxChunkBlocks;
    pyae::Philox4 w = pyae::philox_block(seed, stream, block);
    for (int lane = 0; lane < 4; ++lane) {
      unsigned long long e = chunk * pyae::kPhiloxChunkElems + lane * pyae::kPhiloxChunkBlocks + j;
      if (e < first || e >= first + N) continue;
      float d = normal ? pyae::normal_from_block(w, lane) : pyae::uniform_open01(w.v[lane]);
      unsigned long long at = e - first;
      out[at] = inp == nullptr ? d : pyae::cuda_detail::corrupt_one(inp[at], d, kind, a, b, lo, hi);
    }
  }
}

// z (B, Z) = mu + exp(logvar / 2) * eps; mu_logvar (B, 2Z), eps (B, Z).
__global__ void pyae_reparameterize_forward(float* z, const float* mu_logvar, const float* eps,
                                            int B, int Z) {
  PYAE_GRID_STRIDE(i, static_cast<unsigned long long>(B) * Z) {
    unsigned long long b = i / Z, j = i % Z;
    const float* row = mu_logvar + b * 2 * Z;
    z[i] = pyae::fmadd(pyae::fast_exp(0.5f * row[Z + j]), eps[i], row[j]);
  }
}

// dmu_logvar (B, 2Z) += d/d(mu, logvar) given dz (B, Z), z (B, Z).
__global__ void pyae_reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                                             const float* mu_logvar, int B, int Z) {
  PYAE_GRID_STRIDE(i, static_cast<unsigned long long>(B) * Z) {
    unsigned long long b = i / Z, j = i % Z;
    dmu_logvar[b * 2 * Z + j] += dz[i];
    dmu_logvar[b * 2 * Z + Z + j] += 0.5f * dz[i] * (z[i] - mu_logvar[b * 2 * Z + j]);
  }
}

// row_kl (B) = KL(N(mu, var) || N(0, 1)) per row; dmu_logvar (B, 2Z) +=
// grad_scale * dKL when not null. One thread per row (Z is small).
__global__ void pyae_kl(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
                        float grad_scale) {
  int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const float* mu = mu_logvar + static_cast<unsigned long long>(b) * 2 * Z;
  const float* lv = mu + Z;
  double sum = 0.0;
  for (int j = 0; j < Z; ++j) {
    float var = pyae::fast_exp(lv[j]);
    sum += static_cast<double>(1.0f + lv[j] - mu[j] * mu[j] - var);
    if (dmu_logvar != nullptr) {
      float* d = dmu_logvar + static_cast<unsigned long long>(b) * 2 * Z;
      d[j] += grad_scale * mu[j];
      d[Z + j] += grad_scale * 0.5f * (var - 1.0f);
    }
  }
  row_kl[b] = static_cast<float>(-0.5 * sum);
}

// One block per row: row_out[b] = row_scale * sum_j loss(pred, target) +
// row_shift, the loss being squared error or BCE on logits; grad (B, D) +=
// grad_scale * dloss/dpred when grad is not null (for MSE: grad_scale *
// (pred - target), the caller folds the 2 into grad_scale).
__global__ void pyae_loss_rows(float* grad, float* row_out, const float* pred,
                               const float* target, int B, int D, int bce, float grad_scale,
                               double row_scale, double row_shift) {
  __shared__ double partial[PYAE_REDUCE_THREADS];
  const unsigned long long o = static_cast<unsigned long long>(blockIdx.x) * D;
  double sum = 0.0;
  for (int j = threadIdx.x; j < D; j += blockDim.x) {
    float p = pred[o + j], t = target[o + j];
    float diff = p - t;
    sum += static_cast<double>(bce ? pyae::bce_with_logits(p, t) : diff * diff);
    if (grad != nullptr) grad[o + j] += grad_scale * (bce ? pyae::sigmoid(p) - t : diff);
  }
  pyae::cuda_detail::block_sum(partial, sum);
  if (threadIdx.x == 0) row_out[blockIdx.x] = static_cast<float>(partial[0] * row_scale + row_shift);
}

// totals[slot] += scale * sum(rows (B)); one block, so no atomics and a
// fixed order of additions.
__global__ void pyae_accumulate(double* totals, int slot, const float* rows, int B, double scale) {
  __shared__ double partial[PYAE_REDUCE_THREADS];
  double sum = 0.0;
  for (int i = threadIdx.x; i < B; i += blockDim.x) sum += static_cast<double>(rows[i]);
  pyae::cuda_detail::block_sum(partial, sum);
  if (threadIdx.x == 0) totals[slot] += scale * partial[0];
}

// Adam with torch.optim's order of operations over flat buffers (N), its
// moments flushed below the smallest normal float as on the CPU; the
// step t = counters[0] + 1 comes from device memory. grads are zeroed for
// the next accumulation (as the CPU optimiser does).
__global__ void pyae_adam(float* params, float* m, float* v, float* grads, unsigned long long N,
                          double lr, double beta1, double beta2, float one_minus_beta1,
                          float beta2_f, float one_minus_beta2, float eps,
                          const unsigned long long* counters) {
  const double t = static_cast<double>(counters[0] + 1);
  const float step_size = static_cast<float>(lr / (1.0 - pow(beta1, t)));
  const float sqrt_bc2 = static_cast<float>(sqrt(1.0 - pow(beta2, t)));
  PYAE_GRID_STRIDE(i, N) {
    float mi = m[i], vi = v[i];
    pyae::adam_moments(mi, vi, grads[i], one_minus_beta1, beta2_f, one_minus_beta2);
    m[i] = mi;
    v[i] = vi;
    params[i] -= step_size * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
    grads[i] = 0.0f;
  }
}

// SGD with momentum (torch.optim, dampening 0); grads zeroed afterwards.
__global__ void pyae_sgd_momentum(float* params, float* buf, float* grads, unsigned long long N,
                                  float lr, float momentum) {
  PYAE_GRID_STRIDE(i, N) {
    float b = pyae::flush_subnormal(momentum * buf[i] + grads[i]);
    buf[i] = b;
    params[i] -= lr * b;
    grads[i] = 0.0f;
  }
}

// End of a training step: one more optimiser step, B more rows consumed.
__global__ void pyae_advance(unsigned long long* counters, int B) {
  counters[0] += 1;
  counters[1] += static_cast<unsigned long long>(B);
}

}  // extern "C"
