// Variational-autoencoder kernels: reparameterisation and the KL term.
//
// Shapes: B batch, Z latent. The encoder head writes mu_logvar (B, 2Z):
// each row is [mu (Z) | log sigma^2 (Z)]. Gradients are ACCUMULATED.
#pragma once

namespace pyae {

// z = mu + exp(logvar / 2) * eps
void reparameterize_forward(float* z,                 // (B, Z)
                            const float* mu_logvar,   // (B, 2Z)
                            const float* eps,         // (B, Z)
                            int B, int Z);

// dmu += dz; dlogvar += dz * (z - mu) / 2   (= dz * eps * exp(logvar / 2) / 2)
void reparameterize_backward(float* dmu_logvar,       // (B, 2Z), accumulated
                             const float* dz,         // (B, Z)
                             const float* z,          // (B, Z)
                             const float* mu_logvar,  // (B, 2Z)
                             int B, int Z);

// row_kl[b] = -1/2 sum_j (1 + logvar - mu^2 - exp(logvar)), the KL divergence
// of N(mu, sigma^2) from N(0, I); gradients times grad_scale (e.g. beta / B)
// are accumulated into dmu_logvar unless it is null. Returns sum_b row_kl.
double kl_rows(float* dmu_logvar,       // (B, 2Z) or null, accumulated
                   float* row_kl,           // (B) overwritten
                   const float* mu_logvar,  // (B, 2Z)
                   int B, int Z, float grad_scale);

}  // namespace pyae
