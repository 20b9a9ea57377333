// Host launchers for the kernels of device_kernels.cuh (pyae._cuda). Each
// takes device pointers and the CUDA stream and returns the launch's
// cudaError_t. Launch shapes here and in pyae/_gpu/kernels.py (the NVRTC
// path) are the same. `counters` is the (2) uint64 device array described
// in device_kernels.cuh.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace pyae::cuda {

using u64 = unsigned long long;

// out (B, D) = act(out + bias (D)); pre (B, D) keeps out + bias if not null.
cudaError_t bias_activation(float* out, float* pre, const float* bias, int B, int D, int act,
                            cudaStream_t s);

// dpre (N) = dout (N) * act'(pre (N), out (N)); pre may be null where the
// activation's gradient does not need it.
cudaError_t activation_grad(float* dpre, const float* dout, const float* out, const float* pre,
                            u64 N, int act, cudaStream_t s);

// out (B, D) = data (n, D) rows order (n) [counters[1] + r].
cudaError_t gather_rows(float* out, const float* data, const long long* order,
                        const u64* counters, int B, int D, cudaStream_t s);

// out (N) = noise(inp (N)) (or raw draws when inp is null), elements
// first .. first + N of stream `stream` (+ counters[0] if not null).
cudaError_t noise(float* out, const float* inp, u64 N, int kind, float a, float b, float lo,
                  float hi, bool normal, u64 seed, u64 stream, const u64* counters, u64 first,
                  cudaStream_t s);

// z (B, Z) = mu + exp(logvar / 2) * eps; mu_logvar (B, 2Z), eps (B, Z).
cudaError_t reparameterize_forward(float* z, const float* mu_logvar, const float* eps, int B,
                                   int Z, cudaStream_t s);
// dmu_logvar (B, 2Z) += gradient from dz (B, Z).
cudaError_t reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                                    const float* mu_logvar, int B, int Z, cudaStream_t s);
// row_kl (B); dmu_logvar (B, 2Z) += grad_scale * dKL if not null.
cudaError_t kl(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
               float grad_scale, cudaStream_t s);

// row_out (B) = row_scale * row sum of losses + row_shift; grad (B, D) +=
// grad_scale * dloss/dpred if not null. pred, target (B, D).
cudaError_t loss_rows(float* grad, float* row_out, const float* pred, const float* target, int B,
                      int D, bool bce, float grad_scale, double row_scale, double row_shift,
                      cudaStream_t s);

// totals[slot] += scale * sum(rows (B)).
cudaError_t accumulate(double* totals, int slot, const float* rows, int B, double scale,
                       cudaStream_t s);

// Optimisers over flat buffers (N); grads are zeroed.
cudaError_t adam(float* params, float* m, float* v, float* grads, u64 N, double lr, double beta1,
                 double beta2, double eps, const u64* counters, cudaStream_t s);
cudaError_t sgd_momentum(float* params, float* buf, float* grads, u64 N, float lr,
                         float momentum, cudaStream_t s);

// counters[0] += 1, counters[1] += B.
cudaError_t advance(u64* counters, int B, cudaStream_t s);

}  // namespace pyae::cuda
