// Helpers the training steps share (network.cpp, column_step.cpp): a
// layer's GEMM dimensions, its weight as a GEMM operand, and a thread's
// strip of its outputs.
#pragma once

#include <cstddef>

#include "kernels/dense.h"
#include "models/layer_table.h"
#include "runtime/parallel.h"

namespace pyae::network_detail {

inline DenseDims dims_of(const LayerSpec& s, int B, Activation act, Bf16Path path) {
  DenseDims d{B, s.d_in, s.d_out, act, !s.owns_weight()};
  d.gemm_path = path;
  return d;
}

inline std::size_t count(int B, int width) { return static_cast<std::size_t>(B) * width; }

// A layer's weight as a GEMM operand. Forward: op(B) = W^T (D_in, D_out),
// the stored (D_out, D_in) weight transposed or a tied layer's (D_in, D_out)
// storage as it is. Input gradient: op(B) = W (D_out, D_in), the other way round.
inline bool forward_trans(const LayerSpec& s) { return s.owns_weight(); }
inline int weight_ld(const LayerSpec& s) { return s.owns_weight() ? s.d_in : s.d_out; }

// Thread t of n's strip of a width (a layer's outputs: its rows of the
// weight): whole packed panels, 64-byte aligned.
inline void column_strip(int width, int n, int t, int* c0, int* c1) {
  static_assert(kBf16PanelWidth == kFp32PanelWidth, "one strip rule for both packs");
  split_range(width, n, t, kBf16PanelWidth, c0, c1);
}

}  // namespace pyae::network_detail
