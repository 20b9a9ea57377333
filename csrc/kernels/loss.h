// Fused reconstruction losses and their gradients.
//
// Shapes: B samples, D features. Both losses are means over all B*D
// elements (PyTorch's default reduction), so their gradients carry 1/(B*D).
// Gradients are ACCUMULATED into dpred / dlogits (see common.h).
#pragma once

#include "math/common.h"

namespace pyae {

// Mean squared error. row_loss receives each sample's mean over features
// (the anomaly score); the return value is the mean over all elements.
double mse_loss_rows(float* dpred,         // (B, D) or null, accumulated
                         float* row_loss,      // (B) overwritten
                         const float* pred,    // (B, D)
                         const float* target,  // (B, D)
                         int B, int D);

// Binary cross-entropy from logits z: the output is sigmoid(z), but the loss
// and gradient (sigmoid(z) - t) never form log(sigmoid), so saturated
// outputs stay finite. Same row_loss / return conventions as MSE.
double bce_logits_loss_rows(float* dlogits,       // (B, D) or null, accumulated
                                float* row_loss,      // (B) overwritten
                                const float* logits,  // (B, D)
                                const float* target,  // (B, D)
                                int B, int D);

// A unit-variance Gaussian's NLL from a row's summed squared error over D
// features: 1/2 sum + D/2 log(2 pi) (reconstruction_nll_rows' mse).
double gaussian_nll(double squared_error_sum, int D);

// Columns [c0, c1) of a loss on the calling thread, for a step split across
// threads by columns: row_sums[r] gets row r's squared errors (mse) or
// binary cross-entropies from logits (bce) summed over those columns, and
// grad's columns are WRITTEN with grad_scale * (pred - target) (mse) or
// grad_scale * (sigmoid(pred) - target) (bce). The caller adds the threads'
// sums and finishes them: mse_loss_rows' grad_scale is 2 / (B D) and its
// row loss the sum / D; reconstruction_nll_rows' grad_scale is its own.
void loss_columns(Loss kind,
                  float* grad,          // (B, D), columns [c0, c1) written
                  double* row_sums,     // (B) written
                  const float* pred,    // (B, D) (logits for bce)
                  const float* target,  // (B, D)
                  int B, int D, int c0, int c1, float grad_scale);

// Per-sample negative log-likelihood summed over features (VAE decoders):
//   bce:  out are logits, Bernoulli NLL  sum_j BCE(sigmoid(out), target)
//   mse:  out is the mean of a unit-variance Gaussian,
//         NLL = 1/2 sum_j (target - out)^2 + D/2 log(2 pi)
// grad (accumulated, unless null) gets grad_scale * dNLL/dout; row_nll (B)
// is overwritten. Returns sum_b row_nll.
double reconstruction_nll_rows(float* grad,          // (B, D) or null
                                   float* row_nll,       // (B)
                                   const float* out,     // (B, D)
                                   const float* target,  // (B, D)
                                   int B, int D, Loss kind, float grad_scale);

}  // namespace pyae
