// CUDA versions of pyae's per-element kernels. The math is the same text as
// the CPU build's (elementwise_math.h, noise_math.h, philox.h), so a seed
// gives the same noise bits on both; layouts and conventions match the CPU
// kernels (row-major, gradients accumulated).
//
// Shapes: B batch, D features (D_out for a dense layer), Z latent, N flat.
// Every launcher takes the CUDA stream and returns the launch's cudaError_t.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../common.h"
#include "../noise.h"

namespace pyae::cuda {

// out (B, D) = act(out + bias (D)), in place after a GEMM.
cudaError_t bias_activation(float* out, const float* bias, int B, int D, Activation act,
                            cudaStream_t stream);

// dpre (B, D) = dout (B, D) * act'(out (B, D)); dbias (D) += column sums.
cudaError_t activation_backward(float* dpre, float* dbias, const float* dout, const float* out,
                                int B, int D, Activation act, cudaStream_t stream);

// out (N) = noise(inp (N)) with the CPU kernel's Philox layout.
cudaError_t corrupt(float* out, const float* inp, std::size_t N, NoiseConfig cfg,
                    std::uint64_t seed, std::uint64_t stream_id, std::uint64_t first_index,
                    cudaStream_t stream);

// out (N): standard normals (normal = true) or uniforms, same layout.
cudaError_t philox_draws(float* out, std::size_t N, bool normal, std::uint64_t seed,
                         std::uint64_t stream_id, std::uint64_t first_index,
                         cudaStream_t stream);

// z (B, Z) = mu + exp(logvar / 2) * eps; mu_logvar (B, 2Z), eps (B, Z).
cudaError_t reparameterize_forward(float* z, const float* mu_logvar, const float* eps, int B,
                                   int Z, cudaStream_t stream);
cudaError_t reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                                    const float* mu_logvar, int B, int Z, cudaStream_t stream);

// row_kl (B) = KL rows; dmu_logvar (B, 2Z) += grad_scale * dKL (if non-null).
cudaError_t kl_backward(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
                        float grad_scale, cudaStream_t stream);

// Per-row sums of MSE terms or of BCE on logits, with the gradient
// grad (B, D) += grad_scale * d/dpred when grad is non-null; row_sum (B).
cudaError_t loss_rows(float* grad, float* row_sum, const float* pred, const float* target, int B,
                      int D, bool bce, float grad_scale, cudaStream_t stream);

// Adam and SGD-momentum over flat buffers (N), torch.optim order of operations.
cudaError_t adam_update(float* params, float* m, float* v, const float* grads, std::size_t N,
                        float one_minus_beta1, float beta2, float one_minus_beta2,
                        float step_size, float sqrt_bc2, float eps, cudaStream_t stream);
cudaError_t sgd_momentum_update(float* params, float* buf, const float* grads, std::size_t N,
                                float lr, float momentum, cudaStream_t stream);

}  // namespace pyae::cuda
