#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "math/elementwise_math.h"
#include "runtime/parallel.h"

namespace pyae {

namespace {

// One row: optional gradient, returns the sum over features in double.
PYAE_MULTIVERSION double mse_row(float* dpred, const float* pred, const float* target, int D,
                                 float grad_scale) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < D; ++j) {
    float diff = pred[j] - target[j];
    sum += static_cast<double>(diff * diff);
  }
  if (dpred != nullptr) {
    for (int j = 0; j < D; ++j) dpred[j] += grad_scale * (pred[j] - target[j]);
  }
  return sum;
}

PYAE_MULTIVERSION double bce_row(float* dlogits, const float* logits, const float* target, int D,
                                 float grad_scale) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < D; ++j) sum += static_cast<double>(bce_with_logits(logits[j], target[j]));
  if (dlogits != nullptr) {
    for (int j = 0; j < D; ++j) dlogits[j] += grad_scale * (sigmoid(logits[j]) - target[j]);
  }
  return sum;
}

// Rows in parallel; per-row sums are added serially afterwards so the total
// does not depend on the thread count. row_loss[r] = row sum / divisor.
template <class RowFn>
double rowwise_loss(float* grad, float* row_loss, const float* a, const float* target, int B,
                    int D, float grad_scale, RowFn row_fn, double divisor) {
  run_parallel(threads_for_work(static_cast<double>(B) * D * 8.0), [&](int thread, int threads) {
    int r0 = 0, r1 = B;
    if (threads > 1) split_range(B, threads, thread, 1, &r0, &r1);
    for (int r = r0; r < r1; ++r) {
      std::size_t o = static_cast<std::size_t>(r) * D;
      double s = row_fn(grad == nullptr ? nullptr : grad + o, a + o, target + o, D, grad_scale);
      row_loss[r] = static_cast<float>(s / divisor);
    }
  });
  double total = 0.0;
  for (int r = 0; r < B; ++r) total += static_cast<double>(row_loss[r]);
  return total / B;
}

}  // namespace

double mse_loss_rows(float* dpred, float* row_loss, const float* pred, const float* target,
                         int B, int D) {
  float scale = 2.0f / (static_cast<float>(B) * static_cast<float>(D));
  return rowwise_loss(dpred, row_loss, pred, target, B, D, scale, mse_row, D);
}

double bce_logits_loss_rows(float* dlogits, float* row_loss, const float* logits,
                                const float* target, int B, int D) {
  float scale = 1.0f / (static_cast<float>(B) * static_cast<float>(D));
  return rowwise_loss(dlogits, row_loss, logits, target, B, D, scale, bce_row, D);
}

double gaussian_nll(double squared_error_sum, int D) {
  return 0.5 * squared_error_sum + 0.5 * D * std::log(2.0 * 3.14159265358979323846);
}

void loss_columns(Loss kind, float* grad, double* row_sums, const float* pred,
                  const float* target, int B, int D, int c0, int c1, float scale) {
  const int cols = c1 - c0;
  for (int r = 0; r < B; ++r) {
    const std::size_t o = static_cast<std::size_t>(r) * D + c0;
    std::fill(grad + o, grad + o + cols, 0.0f);  // the row functions accumulate
    row_sums[r] = kind == Loss::bce ? bce_row(grad + o, pred + o, target + o, cols, scale)
                                    : mse_row(grad + o, pred + o, target + o, cols, scale);
  }
}

double reconstruction_nll_rows(float* grad, float* row_nll, const float* out,
                                   const float* target, int B, int D, Loss kind,
                                   float grad_scale) {
  if (kind == Loss::bce)
    return B * rowwise_loss(grad, row_nll, out, target, B, D, grad_scale, bce_row, 1.0);
  // mse_row's gradient is grad_scale * (out - target) = grad_scale * dNLL/dout.
  rowwise_loss(grad, row_nll, out, target, B, D, grad_scale, mse_row, 1.0);
  double total = 0.0;
  for (int r = 0; r < B; ++r) {
    row_nll[r] = static_cast<float>(gaussian_nll(row_nll[r], D));
    total += row_nll[r];
  }
  return total;
}

}  // namespace pyae
