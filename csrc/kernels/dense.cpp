#include "kernels/dense.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/blas.h"
#include "math/elementwise_math.h"
#include "math/sigmoid_avx512.h"
#include "runtime/parallel.h"
#include "kernels/small_gemm.h"

namespace pyae {

namespace {

constexpr int kColumnAlign = 16;        // floats: one 64-byte line
// Row blocks of the output are at most 2 MiB: each block is a separate GEMM
// call, and OpenBLAS re-packs the whole weight matrix per call, so smaller
// blocks cost more in packing than they save in cache misses (measured: at
// batch 256 a 256 KiB block made the 784-wide layers 20% slower).
constexpr int kEpilogueTileFloats = 1 << 19;

// out = act(out + bias) in place after the GEMM; with a pre buffer (same
// layout as out) the pre-activation out + bias is kept there as well.
template <Activation A>
PYAE_MULTIVERSION void bias_activation_t(float* out, float* pre, const float* bias, int rows,
                                          int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    float* row = out + static_cast<std::size_t>(r) * ld;
    if (pre == nullptr) {
      for (int c = 0; c < cols; ++c) row[c] = activate(row[c] + bias[c], A);
    } else {
      float* pre_row = pre + static_cast<std::size_t>(r) * ld;
      for (int c = 0; c < cols; ++c) {
        float x = row[c] + bias[c];
        pre_row[c] = x;
        row[c] = activate(x, A);
      }
    }
  }
}

#if defined(PYAE_HAS_AVX512_PATHS)
// bias_activation_t<sigmoid> on 16 columns at a time (math/sigmoid_avx512.h:
// the same bits, ~30% less time than the compiler's vectorisation).
PYAE_AVX512 void bias_sigmoid_avx512(float* out, float* pre, const float* bias, int rows,
                                     int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    float* row = out + static_cast<std::size_t>(r) * ld;
    float* pre_row = pre == nullptr ? nullptr : pre + static_cast<std::size_t>(r) * ld;
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 m = cols - c >= 16 ? 0xffff : static_cast<__mmask16>((1u << (cols - c)) - 1);
      const __m512 x =
          _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + c), _mm512_maskz_loadu_ps(m, bias + c));
      if (pre_row != nullptr) _mm512_mask_storeu_ps(pre_row + c, m, x);
      _mm512_mask_storeu_ps(row + c, m, sigmoid16(x));
    }
  }
}

PYAE_AVX512 void sigmoid_avx512(float* out, const float* inp, std::size_t n) {  // (n)
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(out + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, inp + i)));
  }
}
#endif

// dpre = dout * act'(pre, out); dbias += column sums of dpre. Rows outer,
// columns inner: the bias sum vectorises without reassociation, so it is
// exact-order. pre is read only by activations that need it.
template <Activation A>
PYAE_MULTIVERSION void activation_backward_t(float* dpre, float* dbias, const float* dout,
                                              const float* out, const float* pre, int rows,
                                              int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    std::size_t o = static_cast<std::size_t>(r) * ld;
    for (int c = 0; c < cols; ++c) {
      float x = needs_preactivation(A) ? pre[o + c] : 0.0f;
      float g = dout[o + c] * activation_grad(out[o + c], x, A);
      dpre[o + c] = g;
      dbias[c] += g;
    }
  }
}

template <Activation A>
PYAE_MULTIVERSION void activation_forward_t(float* out, const float* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = activate(inp[i], A);
}

void check_activation(Activation act) {
  if (!is_valid(act))
    throw std::invalid_argument("unknown activation code " +
                                std::to_string(static_cast<int>(act)));
}

// Calls f.template operator()<A>() for the runtime activation act: the one
// place that turns the enum into a template argument. Callers check act
// first (check_activation): no exception may leave a parallel region.
template <class F>
void with_activation(Activation act, F&& f) {
  switch (act) {
#define PYAE_DISPATCH(name, code) \
  case Activation::name: return f.template operator()<Activation::name>();
    PYAE_ACTIVATIONS(PYAE_DISPATCH)
#undef PYAE_DISPATCH
  }
}

// Splits an (B, D) output over T threads: whole rows when the batch is large,
// column strips when it is small (batch 1 inference still uses every thread).
struct Tile {
  int r0, r1, c0, c1;
};

// C = op(A) . op(B) + beta * C in the layer's precision, on one thread (the
// callers split the work). fp32 runs pyae's AVX-512 tile where the CPU has
// it (A and a full-width untransposed B read in place), except for a
// transposed A (the weight gradient), else sgemm.
void layer_gemm(const DenseDims& d, bool trans_a, bool trans_b, int M, int N, int K,
                const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (d.gemm_path != Bf16Path::none)
    bf16_gemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc, d.gemm_path);
  else if (trans_a || !fp32_gemm(trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc))
    sgemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

Tile tile_for(int B, int D, int thread, int threads, int column_align = kColumnAlign) {
  Tile t{0, B, 0, D};
  if (threads <= 1) return t;
  if (B >= 16 * threads) {
    split_range(B, threads, thread, 1, &t.r0, &t.r1);
  } else {
    split_range(D, threads, thread, column_align, &t.c0, &t.c1);
  }
  return t;
}

// One tile of a dense forward: rows [r0, r1) and columns [c0, c1) of out.
void forward_block(float* out, const float* inp, const float* weight, const float* bias,
                   const DenseDims& d, Tile t, float* pre) {
  int cols = t.c1 - t.c0;
  if (cols <= 0 || t.r1 <= t.r0) return;
  // Row blocks small enough that GEMM output is still in cache for the epilogue.
  int block = std::clamp(kEpilogueTileFloats / cols, 8, t.r1 - t.r0);
  const float* w = d.weight_transposed ? weight + t.c0 : weight + static_cast<std::size_t>(t.c0) * d.D_in;
  int ldw = d.weight_transposed ? d.D_out : d.D_in;
  for (int r = t.r0; r < t.r1; r += block) {
    int rows = std::min(block, t.r1 - r);
    float* o = out + static_cast<std::size_t>(r) * d.D_out + t.c0;
    const float* x = inp + static_cast<std::size_t>(r) * d.D_in;
    if (d.int8 != nullptr) {
      int8_gemm_packed(rows, t.c0, cols, x, d.D_in, *d.int8, o, d.D_out, d.int8_path);
    } else if (d.packed != nullptr) {
      bf16_gemm_packed(false, rows, t.c0, cols, 1.0f, x, d.D_in, *d.packed, 0.0f, o, d.D_out,
                       d.gemm_path);
    } else if (d.gemm_path != Bf16Path::none) {
      layer_gemm(d, false, !d.weight_transposed, rows, cols, d.D_in, x, d.D_in, w, ldw, 0.0f,
                 o, d.D_out);
    } else if (d.fp32 != nullptr && rows > kSmallGemmMaxRows &&
               fp32_gemm_packed(rows, t.c0, cols, x, d.D_in, *d.fp32, o, d.D_out)) {
      // Past the small-batch kernel: the weight was packed once, not per call.
    } else if (!d.weight_transposed && rows <= kSmallGemmMaxRows &&
        small_gemm_xwt(o, d.D_out, x, d.D_in, w, rows, cols, d.D_in)) {
      // Small batch: weights streamed once (sgemm would re-pack them).
    } else if (rows == 1) {
      // One row: gemv streams the weights once; sgemm would first pack them.
      if (d.weight_transposed) sgemv(true, d.D_in, cols, 1.0f, w, ldw, x, 0.0f, o);
      else sgemv(false, cols, d.D_in, 1.0f, w, ldw, x, 0.0f, o);
    } else {
      layer_gemm(d, false, !d.weight_transposed, rows, cols, d.D_in, x, d.D_in, w, ldw, 0.0f,
                 o, d.D_out);
    }
    bias_activation(o, bias + t.c0, rows, cols, d.D_out, d.act,
                    pre == nullptr ? nullptr : pre + (o - out));
  }
}

}  // namespace

void bias_activation(float* out, const float* bias, int rows, int cols, int ld, Activation act,
                     float* pre) {
#if defined(PYAE_HAS_AVX512_PATHS)
  if (act == Activation::sigmoid && cpu_has_avx512())
    return bias_sigmoid_avx512(out, pre, bias, rows, cols, ld);
#endif
  with_activation(act, [&]<Activation A>() { bias_activation_t<A>(out, pre, bias, rows, cols, ld); });
}

void activation_forward(float* out, const float* inp, std::size_t n, Activation act) {
  check_activation(act);
#if defined(PYAE_HAS_AVX512_PATHS)
  if (act == Activation::sigmoid && cpu_has_avx512()) return sigmoid_avx512(out, inp, n);
#endif
  with_activation(act, [&]<Activation A>() { activation_forward_t<A>(out, inp, n); });
}

PYAE_MULTIVERSION static bool all_finite_impl(const float* x, std::size_t n) {
  // x - x is 0 for finite x and NaN otherwise; one branch-free pass.
  // Every term is 0 or NaN, so summation order cannot change the answer.
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::size_t i = 0; i < n; ++i) acc += x[i] - x[i];
  return acc == 0.0f;
}

bool all_finite(const float* x, std::size_t n) { return all_finite_impl(x, n); }

static void activation_backward(float* dpre, float* dbias, const float* dout, const float* out,
                                const float* pre, int rows, int cols, int ld, Activation act) {
  with_activation(act, [&]<Activation A>() {
    activation_backward_t<A>(dpre, dbias, dout, out, pre, rows, cols, ld);
  });
}

// Output columns [c0, c1) of a layer's backward, on one thread: dpre and
// the bias sum of those columns, and the weight gradient's strip for them
// (K = batch, nothing shared with other columns).
static void weight_gradient_columns(float* dweight, float* dbias, float* dpre, const float* dout,
                                    const float* out, const float* pre, const float* inp,
                                    const DenseDims& d, int c0, int c1) {
  const int cols = c1 - c0;
  if (cols <= 0) return;
  activation_backward(dpre + c0, dbias + c0, dout + c0, out + c0,
                      pre == nullptr ? nullptr : pre + c0, d.B, cols, d.D_out, d.act);
  if (d.weight_transposed) {
    // dW_stored[:, c0:c1] += inp^T . dpre[:, c0:c1]
    layer_gemm(d, true, false, d.D_in, cols, d.B, inp, d.D_in, dpre + c0, d.D_out, 1.0f,
               dweight + c0, d.D_out);
  } else {
    // dW[c0:c1, :] += dpre[:, c0:c1]^T . inp
    layer_gemm(d, true, false, cols, d.D_in, d.B, dpre + c0, d.D_out, inp, d.D_in, 1.0f,
               dweight + static_cast<std::size_t>(c0) * d.D_in, d.D_in);
  }
}

void dense_forward(float* out, const float* inp, const float* weight, const float* bias,
                   const DenseDims& d, float* pre) {
  check_activation(d.act);
  const double work = static_cast<double>(d.B) * d.D_in * d.D_out;
  run_parallel(threads_for_work(work), [&](int thread, int threads) {
    dense_forward_tile(out, inp, weight, bias, d, thread, threads, pre);
  });
}

void dense_forward_tile(float* out, const float* inp, const float* weight, const float* bias,
                        const DenseDims& d, int thread, int threads, float* pre) {
  // A packed weight is split on its panels' boundaries.
  forward_block(out, inp, weight, bias, d,
                tile_for(d.B, d.D_out, thread, threads,
                         d.packed != nullptr ? kBf16PanelWidth
                         : d.int8 != nullptr ? kInt8PanelWidth
                         : d.fp32 != nullptr ? kFp32PanelWidth
                                             : kColumnAlign),
                pre);
}

void dense_forward_columns(float* out, const float* inp, const float* weight, const float* bias,
                           const DenseDims& d, int c0, int c1, float* pre) {
  forward_block(out, inp, weight, bias, d, Tile{0, d.B, c0, c1}, pre);
}

void dense_backward_columns(float* dinp_part, float* dweight, float* dbias, float* dpre,
                            const float* dout, const float* out, const float* pre,
                            const float* inp, const float* weight, const DenseDims& d, int c0,
                            int c1) {
  weight_gradient_columns(dweight, dbias, dpre, dout, out, pre, inp, d, c0, c1);
  if (dinp_part == nullptr) return;
  const int cols = c1 - c0;
  if (cols <= 0) {  // no columns: this part of the sum is zero
    std::fill(dinp_part, dinp_part + static_cast<std::size_t>(d.B) * d.D_in, 0.0f);
    return;
  }
  // dinp_part = dpre[:, c0:c1] . W_eff[c0:c1, :], W_eff (D_out, D_in) as in phase 2 below
  if (d.weight_transposed)
    layer_gemm(d, false, true, d.B, d.D_in, cols, dpre + c0, d.D_out, weight + c0, d.D_out, 0.0f,
               dinp_part, d.D_in);
  else
    layer_gemm(d, false, false, d.B, d.D_in, cols, dpre + c0, d.D_out,
               weight + static_cast<std::size_t>(c0) * d.D_in, d.D_in, 0.0f, dinp_part, d.D_in);
}

void dense_backward(float* dinp, float* dweight, float* dbias, float* dpre, const float* dout,
                    const float* out, const float* pre, const float* inp, const float* weight,
                    const DenseDims& d) {
  check_activation(d.act);
  const double work = static_cast<double>(d.B) * d.D_in * d.D_out;
  const int threads = threads_for_work(work);
  // Phase 1, split over output columns: activation gradient, bias sum, and
  // the weight-gradient strip for those columns (K = batch, nothing shared).
  run_parallel(threads, [&](int thread, int nthreads) {
    int c0 = 0, c1 = d.D_out;
    if (nthreads > 1) split_range(d.D_out, nthreads, thread, kColumnAlign, &c0, &c1);
    weight_gradient_columns(dweight, dbias, dpre, dout, out, pre, inp, d, c0, c1);
  });
  if (dinp == nullptr) return;
  // Phase 2: dinp += dpre . W_eff, split like a forward over (B, D_in).
  run_parallel(threads, [&](int thread, int nthreads) {
    Tile t = tile_for(d.B, d.D_in, thread, nthreads,
                      d.packed_dinp != nullptr ? kBf16PanelWidth : kColumnAlign);
    int rows = t.r1 - t.r0, cols = t.c1 - t.c0;
    if (rows <= 0 || cols <= 0) return;
    const float* dp = dpre + static_cast<std::size_t>(t.r0) * d.D_out;
    float* di = dinp + static_cast<std::size_t>(t.r0) * d.D_in + t.c0;
    if (d.packed_dinp != nullptr) {
      bf16_gemm_packed(false, rows, t.c0, cols, 1.0f, dp, d.D_out, *d.packed_dinp, 1.0f, di,
                       d.D_in, d.gemm_path);
    } else if (d.weight_transposed) {
      layer_gemm(d, false, true, rows, cols, d.D_out, dp, d.D_out,
                 weight + static_cast<std::size_t>(t.c0) * d.D_out, d.D_out, 1.0f, di, d.D_in);
    } else {
      layer_gemm(d, false, false, rows, cols, d.D_out, dp, d.D_out, weight + t.c0, d.D_in, 1.0f,
                 di, d.D_in);
    }
  });
}

}  // namespace pyae
