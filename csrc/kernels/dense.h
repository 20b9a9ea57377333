// Fused dense layer: out = act(inp . W^T + b).
//
// Shapes: B batch, D_in inputs, D_out outputs. The weight is (D_out, D_in)
// row-major, or, when weight_transposed, stored as (D_in, D_out) -- the
// layout a tied decoder uses to share its encoder's matrix.
//
// Gradients are ACCUMULATED into dinp, dweight and dbias (see common.h).
#pragma once

#include "kernels/bf16_gemm.h"
#include "kernels/int8_gemm.h"
#include "kernels/packed_sgemm.h"
#include "math/common.h"

namespace pyae {

struct DenseDims {
  int B;
  int D_in;
  int D_out;
  Activation act;
  bool weight_transposed;
  // none: fp32 GEMMs (pyae's AVX-512 tile where the CPU has it, else
  // OpenBLAS); otherwise bf16 operands with fp32 accumulation on that path
  // (precision="bf16"). The epilogues are fp32.
  Bf16Path gemm_path = Bf16Path::none;
  // The bf16 weight packed once (inference, or a sharded step), or null:
  // packed per call. packed_dinp: the input gradient's op(B), likewise.
  const Bf16PackedB* packed = nullptr;
  const Bf16PackedB* packed_dinp = nullptr;
  // fp32: the weight packed once (inference, or a sharded step), or null
  // (then the per-call fp32 GEMMs).
  const Fp32PackedB* fp32 = nullptr;
  // precision="int8" (inference only): the quantised weight, or null.
  const Int8PackedB* int8 = nullptr;
  Int8Path int8_path = Int8Path::none;
};

void dense_forward(float* out,           // (B, D_out)
                   const float* inp,     // (B, D_in)
                   const float* weight,  // (D_out, D_in), or (D_in, D_out) if transposed
                   const float* bias,    // (D_out)
                   const DenseDims& dims,
                   float* pre = nullptr);  // (B, D_out) or null: receives the pre-activation

// The part of dense_forward that thread `thread` of `threads` computes; for
// callers that run several layers inside one parallel region.
void dense_forward_tile(float* out, const float* inp, const float* weight, const float* bias,
                        const DenseDims& dims, int thread, int threads, float* pre = nullptr);

// Output columns [c0, c1) of dense_forward for every row, on the calling
// thread: a training step split across threads by columns (c0, and c1
// unless it is D_out, multiples of a packed weight's panel width).
void dense_forward_columns(float* out, const float* inp, const float* weight, const float* bias,
                           const DenseDims& dims, int c0, int c1, float* pre = nullptr);

// dpre receives dout * act'(out) and may alias dout (the training step does
// this to save a buffer). dinp may be null when the input gradient is unused.
void dense_backward(float* dinp,          // (B, D_in) or null, accumulated
                    float* dweight,       // same layout as weight, accumulated
                    float* dbias,         // (D_out), accumulated
                    float* dpre,          // (B, D_out) scratch, may alias dout
                    const float* dout,    // (B, D_out)
                    const float* out,     // (B, D_out) saved forward output
                    const float* pre,     // (B, D_out) saved pre-activation; read only when
                                          // needs_preactivation(dims.act), else may be null
                    const float* inp,     // (B, D_in)
                    const float* weight,  // as in forward
                    const DenseDims& dims);

// The backward of output columns [c0, c1) on the calling thread: dpre and
// dbias of those columns and dweight's rows for them (accumulated, as
// dense_backward), and, unless dinp_part is null, this thread's part of the
// input gradient, dpre[:, c0:c1] . W[c0:c1, :], WRITTEN (the caller sums
// the threads' parts).
void dense_backward_columns(float* dinp_part,     // (B, D_in) or null, written
                            float* dweight,       // as in dense_backward
                            float* dbias,         // (D_out)
                            float* dpre,          // (B, D_out), may alias dout
                            const float* dout,    // (B, D_out), columns [c0, c1) read
                            const float* out,     // (B, D_out)
                            const float* pre,     // (B, D_out) or null
                            const float* inp,     // (B, D_in)
                            const float* weight,  // as in forward
                            const DenseDims& dims, int c0, int c1);

// Element-wise pieces, exposed for the ops layer and the tests.
void bias_activation(float* out,         // (rows, ld) tile, cols used
                     const float* bias,  // (cols)
                     int rows, int cols, int ld, Activation act,
                     float* pre = nullptr);  // (rows, ld) or null: keeps out + bias
void activation_forward(float* out, const float* inp, std::size_t n, Activation act);  // (n)

// True when no element of x (n) is NaN or infinite.
bool all_finite(const float* x, std::size_t n);

}  // namespace pyae
