#include "kernels.cuh"

#include "device_kernels.cuh"

namespace pyae::cuda {

namespace {

constexpr int kThreads = 256;

// Grid-stride kernels: enough blocks to fill any current GPU, capped.
unsigned blocks_for(u64 n) {
  u64 b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b == 0 ? 1 : (b < 65535ull * 8 ? b : 65535ull * 8));
}

}  // namespace

cudaError_t bias_activation(float* out, float* pre, const float* bias, int B, int D, int act,
                            cudaStream_t s) {
  pyae_bias_activation<<<blocks_for(static_cast<u64>(B) * D), kThreads, 0, s>>>(out, pre, bias,
                                                                                B, D, act);
  return cudaGetLastError();
}

cudaError_t activation_grad(float* dpre, const float* dout, const float* out, const float* pre,
                            u64 N, int act, cudaStream_t s) {
  pyae_activation_grad<<<blocks_for(N), kThreads, 0, s>>>(dpre, dout, out, pre, N, act);
  return cudaGetLastError();
}

cudaError_t gather_rows(float* out, const float* data, const long long* order,
                        const u64* counters, int B, int D, cudaStream_t s) {
  pyae_gather_rows<<<blocks_for(static_cast<u64>(B) * D), kThreads, 0, s>>>(out, data, order,
                                                                            counters, B, D);
  return cudaGetLastError();
}

cudaError_t noise(float* out, const float* inp, u64 N, int kind, float a, float b, float lo,
                  float hi, bool normal, u64 seed, u64 stream, const u64* counters, u64 first,
                  cudaStream_t s) {
  if (N == 0) return cudaSuccess;
  // The Philox blocks covering elements first .. first + N - 1, whole chunks.
  u64 first_block = first / kPhiloxChunkElems * kPhiloxChunkBlocks;
  u64 end_block = ((first + N - 1) / kPhiloxChunkElems + 1) * kPhiloxChunkBlocks;
  u64 n_blocks = end_block - first_block;
  pyae_noise<<<blocks_for(n_blocks), kThreads, 0, s>>>(out, inp, N, kind, a, b, lo, hi,
                                                       normal ? 1 : 0, seed, stream, counters,
                                                       first, first_block, n_blocks);
  return cudaGetLastError();
}

cudaError_t reparameterize_forward(float* z, const float* mu_logvar, const float* eps, int B,
                                   int Z, cudaStream_t s) {
  pyae_reparameterize_forward<<<blocks_for(static_cast<u64>(B) * Z), kThreads, 0, s>>>(
      z, mu_logvar, eps, B, Z);
  return cudaGetLastError();
}

cudaError_t reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                                    const float* mu_logvar, int B, int Z, cudaStream_t s) {
  pyae_reparameterize_backward<<<blocks_for(static_cast<u64>(B) * Z), kThreads, 0, s>>>(
      dmu_logvar, dz, z, mu_logvar, B, Z);
  return cudaGetLastError();
}

cudaError_t kl(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
               float grad_scale, cudaStream_t s) {
  pyae_kl<<<(B + kThreads - 1) / kThreads, kThreads, 0, s>>>(dmu_logvar, row_kl, mu_logvar, B, Z,
                                                              grad_scale);
  return cudaGetLastError();
}

cudaError_t loss_rows(float* grad, float* row_out, const float* pred, const float* target, int B,
                      int D, bool bce, float grad_scale, double row_scale, double row_shift,
                      cudaStream_t s) {
  if (B == 0) return cudaSuccess;
  pyae_loss_rows<<<B, PYAE_REDUCE_THREADS, 0, s>>>(grad, row_out, pred, target, B, D, bce ? 1 : 0,
                                                   grad_scale, row_scale, row_shift);
  return cudaGetLastError();
}

cudaError_t accumulate(double* totals, int slot, const float* rows, int B, double scale,
                       cudaStream_t s) {
  pyae_accumulate<<<1, PYAE_REDUCE_THREADS, 0, s>>>(totals, slot, rows, B, scale);
  return cudaGetLastError();
}

cudaError_t adam(float* params, float* m, float* v, float* grads, u64 N, double lr, double beta1,
                 double beta2, double eps, const u64* counters, cudaStream_t s) {
  pyae_adam<<<blocks_for(N), kThreads, 0, s>>>(
      params, m, v, grads, N, lr, beta1, beta2, static_cast<float>(1.0 - beta1),
      static_cast<float>(beta2), static_cast<float>(1.0 - beta2), static_cast<float>(eps),
      counters);
  return cudaGetLastError();
}

cudaError_t sgd_momentum(float* params, float* buf, float* grads, u64 N, float lr,
                         float momentum, cudaStream_t s) {
  pyae_sgd_momentum<<<blocks_for(N), kThreads, 0, s>>>(params, buf, grads, N, lr, momentum);
  return cudaGetLastError();
}

cudaError_t advance(u64* counters, int B, cudaStream_t s) {
  pyae_advance<<<1, 1, 0, s>>>(counters, B);
  return cudaGetLastError();
}

}  // namespace pyae::cuda
