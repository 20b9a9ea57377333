#include "kernels/latent.h"

#include <cstddef>

#include "math/common.h"
#include "math/elementwise_math.h"

namespace pyae {

namespace {

PYAE_MULTIVERSION void reparam_row(float* z, const float* mu, const float* logvar,
                                   const float* eps, int Z) {
  for (int j = 0; j < Z; ++j) z[j] = fmadd(fast_exp(0.5f * logvar[j]), eps[j], mu[j]);
}

PYAE_MULTIVERSION void reparam_backward_row(float* dmu, float* dlogvar, const float* dz,
                                            const float* z, const float* mu, int Z) {
  for (int j = 0; j < Z; ++j) {
    dmu[j] += dz[j];
    dlogvar[j] += 0.5f * dz[j] * (z[j] - mu[j]);
  }
}

PYAE_MULTIVERSION double kl_row(float* dmu, float* dlogvar, const float* mu, const float* logvar,
                                int Z, float grad_scale) {
  double sum = 0.0;
  for (int j = 0; j < Z; ++j) {
    float var = fast_exp(logvar[j]);
    sum += static_cast<double>(1.0f + logvar[j] - mu[j] * mu[j] - var);
    if (dmu != nullptr) {
      dmu[j] += grad_scale * mu[j];
      dlogvar[j] += grad_scale * 0.5f * (var - 1.0f);
    }
  }
  return -0.5 * sum;
}

}  // namespace

void reparameterize_forward(float* z, const float* mu_logvar, const float* eps, int B, int Z) {
  for (int b = 0; b < B; ++b) {
    const float* ml = mu_logvar + static_cast<std::size_t>(b) * 2 * Z;
    reparam_row(z + static_cast<std::size_t>(b) * Z, ml, ml + Z,
                eps + static_cast<std::size_t>(b) * Z, Z);
  }
}

void reparameterize_backward(float* dmu_logvar, const float* dz, const float* z,
                             const float* mu_logvar, int B, int Z) {
  for (int b = 0; b < B; ++b) {
    std::size_t o2 = static_cast<std::size_t>(b) * 2 * Z, o = static_cast<std::size_t>(b) * Z;
    reparam_backward_row(dmu_logvar + o2, dmu_logvar + o2 + Z, dz + o, z + o, mu_logvar + o2, Z);
  }
}

double kl_rows(float* dmu_logvar, float* row_kl, const float* mu_logvar, int B, int Z,
                   float grad_scale) {
  double total = 0.0;
  for (int b = 0; b < B; ++b) {
    std::size_t o2 = static_cast<std::size_t>(b) * 2 * Z;
    float* d = dmu_logvar == nullptr ? nullptr : dmu_logvar + o2;
    double kl = kl_row(d, d == nullptr ? nullptr : d + Z, mu_logvar + o2, mu_logvar + o2 + Z, Z,
                       grad_scale);
    row_kl[b] = static_cast<float>(kl);
    total += kl;
  }
  return total;
}

}  // namespace pyae
