// Network::column_step: a training step split across threads by columns
// (model parallel; see StepSplit in network.h). Each thread owns a strip of
// every layer's outputs for the whole batch, which is its rows of each
// weight: their gradient, update and packed panels stay on its core.
#include <algorithm>
#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>

#include "kernels/batch.h"
#include "kernels/dense.h"
#include "kernels/latent.h"
#include "kernels/loss.h"
#include "models/network.h"
#include "models/network_detail.h"
#include "runtime/parallel.h"

namespace pyae {

using namespace network_detail;

namespace {

// dst[:, c0:c1] = the sum of the parts' columns c0:c1, in part order.
PYAE_MULTIVERSION void sum_parts(float* dst,                // (B, D), columns c0:c1 written
                                 const float* const* parts,  // n of (B, D)
                                 int n, int B, int D, int c0, int c1) {
  for (int r = 0; r < B; ++r) {
    const std::size_t o = static_cast<std::size_t>(r) * D;
    float* out = dst + o;
    for (int c = c0; c < c1; ++c) out[c] = parts[0][o + c];
    for (int u = 1; u < n; ++u) {
      const float* part = parts[u] + o;
      for (int c = c0; c < c1; ++c) out[c] += part[c];
    }
  }
}

}  // namespace

StepLosses Network::column_step(const float* data, std::int64_t n_rows,
                                const std::int64_t* batch_rows, int B, const float* eps, int T) {
  // What can throw happens here, before the parallel region: inside it, a
  // thread that failed still meets every barrier (guarded below).
  begin_gradient();
  if (static_cast<int>(work_.size()) < T) work_.resize(T);
  reserve_locked(work_[0], B);  // the batch's activations, shared by the threads
  const int L = table_.size();
  const int D = table_.features();
  std::size_t part_size = 0;
  for (int l = 1; l < L; ++l) part_size = std::max(part_size, count(B, table_[l].d_in));
  for (int t = 0; t < T; ++t) {
    for (FloatBuffer& part : work_[t].dinp_parts)
      if (part.size() < part_size) part.resize(part_size);
    if (static_cast<int>(work_[t].row_sums.size()) < B) work_[t].row_sums.resize(B);
  }
  for (int b = 0; b < B; ++b)  // gather_rows' check, made here
    if (batch_rows[b] < 0 || batch_rows[b] >= n_rows)
      throw std::out_of_range("batch row index " + std::to_string(batch_rows[b]) +
                              " outside the data");
  allocate_step_packs(1, false);  // one set, each thread packing its own panels
  const StepPacks& packs = step_packs_;
  Workspace& w = work_[0];
  const bool denoising = noise_.kind != NoiseKind::none;
  float* target = denoising ? w.clean.data() : w.acts[0].data();
  // A VAE's latent head (mu | log sigma^2 columns, the reparameterisation and
  // the KL term, all small) is thread 0's whole: its columns pair up.
  const int head = table_.variational() ? table_.latent_layer() : -1;
  const int Z = head >= 0 ? table_[head].d_out / 2 : 0;
  const float inv_b = 1.0f / static_cast<float>(B);
  // The loss's gradient scale: the AE's mean over B * D elements (mse's
  // derivative 2x), the VAE's per-sample NLL averaged over the batch.
  const float grad_scale = head >= 0 ? inv_b
                           : (loss_ == Loss::bce ? 1.0f : 2.0f) /
                                 (static_cast<float>(B) * static_cast<float>(D));
  double kl = 0.0;
  const auto stream = static_cast<std::uint64_t>(opt_.step_count());
  const long long step = opt_.step_count() + 1;
  float* params = params_.data();
  float* g = grads_.data();
  std::vector<const float*> parts[2];  // every thread's input-gradient parts
  for (int i = 0; i < 2; ++i)
    for (int t = 0; t < T; ++t) parts[i].push_back(work_[t].dinp_parts[i].data());
  std::vector<std::exception_ptr> errors(T);
  std::atomic<bool> failed{false};
  int granted = 1;
  run_parallel(T, [&](int t, int n) {
    if (t == 0) granted = n;
    Workspace& own = work_[t];
    auto guarded = [&](auto&& work) {
      if (failed) return;
      try {
        work();
      } catch (...) {
        errors[t] = std::current_exception();
        failed = true;
      }
    };
    // This thread's output columns of layer l: its rows of the weight.
    auto strip = [&](int l, int* c0, int* c1) {
      if (l != head) return column_strip(table_[l].d_out, n, t, c0, c1);
      *c0 = 0;
      *c1 = t == 0 ? table_[l].d_out : 0;
    };
    auto dims = [&](int l) {
      DenseDims d = dims_of(table_[l], B, train_act(l), gemm_path());
      if (packs.use_bf16) d.packed = packs.bf16[l].get();
      if (packs.use_fp32) d.fp32 = w.fp32_packs[l].get();
      return d;
    };
    // This thread's panels of every forward pack, from the weight rows it
    // owns (and updates): no core reads a pack another just wrote. Its rows
    // of the batch, corrupted at their places in it.
    guarded([&] {
      for (int l = 0; l < L; ++l) {
        const LayerSpec& s = table_[l];
        int c0, c1;
        strip(l, &c0, &c1);
        const int first = c0 / kBf16PanelWidth, last = (c1 + kBf16PanelWidth - 1) / kBf16PanelWidth;
        if (packs.use_bf16)
          packs.bf16[l]->repack(forward_trans(s), params + s.weight_offset, weight_ld(s), first,
                                last);
        if (packs.use_fp32)
          w.fp32_packs[l]->repack(forward_trans(s), params + s.weight_offset, weight_ld(s), first,
                                  last);
      }
      int r0, r1;
      split_range(B, n, t, 1, &r0, &r1);
      if (r1 == r0) return;  // a batch of fewer rows than threads
      gather_rows(target + count(r0, D), data, n_rows, batch_rows + r0, r1 - r0, D);
      if (denoising)
        corrupt(w.acts[0].data() + count(r0, D), target + count(r0, D), count(r1 - r0, D), noise_,
                noise_seed_, stream, static_cast<std::uint64_t>(r0) * D);
    });
#pragma omp barrier
    for (int l = 0; l < L; ++l) {
      const LayerSpec& s = table_[l];
      int c0, c1;
      strip(l, &c0, &c1);
      guarded([&] {
        dense_forward_columns(train_out(w, l), w.acts[l].data(), params + s.weight_offset,
                              params + s.bias_offset, dims(l), c0, c1,
                              w.pre[l].size() ? w.pre[l].data() : nullptr);
        if (l != head || t != 0) return;
        sample_latent(w, l, B, eps, nullptr, 0);
        kl = kl_term(w, B);  // its gradient the first part of the head's
      });
      if (l + 1 < L) {
#pragma omp barrier
      }
    }
    // The loss is element-wise: each thread takes its columns of the output.
    guarded([&] {
      int c0, c1;
      column_strip(D, n, t, &c0, &c1);
      loss_columns(loss_, w.dacts[L].data(), own.row_sums.data(), w.acts[L].data(), target, B,
                   D, c0, c1, grad_scale);
    });
    for (int l = L - 1; l >= 0; --l) {
      const LayerSpec& s = table_[l];
      int c0, c1;
      strip(l, &c0, &c1);
      if (l == head) {
#pragma omp barrier
        // (every strip of dz is summed) the head's gradient through the
        // reparameterisation, added to the KL term's
        if (t == 0)
          guarded([&] {
            reparameterize_backward(w.dhead_out.data(), w.dacts[l + 1].data(),
                                    w.acts[l + 1].data(), w.head_out.data(), B, Z);
          });
      }
      float* dout = train_dout(w, l);  // its columns c0:c1 are whole
      guarded([&] {
        dense_backward_columns(l > 0 ? own.dinp_parts[l % 2].data() : nullptr,
                               g + s.weight_offset, g + s.bias_offset, dout, dout,
                               train_out(w, l), w.pre[l].size() ? w.pre[l].data() : nullptr,
                               w.acts[l].data(), params + s.weight_offset, dims(l), c0, c1);
      });
      if (l == 0) break;
#pragma omp barrier
      // Its strip of the input gradient (layer l - 1's output columns): the
      // parts summed in thread order. The next layer writes the other
      // buffer, so no thread overwrites a part another may still be reading.
      guarded([&] {
        int e0, e1;
        column_strip(s.d_in, n, t, &e0, &e1);
        sum_parts(w.dacts[l].data(), parts[l % 2].data(), n, B, s.d_in, e0, e1);
      });
    }
#pragma omp barrier
    if (failed) return;  // every gradient strip is whole: update the rows this thread owns
    for (int l = 0; l < L; ++l) {
      const LayerSpec& s = table_[l];
      int c0, c1;
      strip(l, &c0, &c1);
      opt_.update_range(params, GradientParts(g), s.weight_offset + count(c0, s.d_in),
                        s.weight_offset + count(c1, s.d_in), step);
      opt_.update_range(params, GradientParts(g), s.bias_offset + c0, s.bias_offset + c1, step);
    }
  });
  if (failed) {  // no half-made gradient survives a failed step
    grads_.zero();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
  }
  opt_.set_step_count(step);
  // Each row's loss from the threads' sums, finished as the whole-batch
  // kernels finish theirs (mse_loss_rows, reconstruction_nll_rows).
  float* row_loss = w.row_nll.data();
  double total = 0.0;
  for (int b = 0; b < B; ++b) {
    double sum = 0.0;
    for (int u = 0; u < granted; ++u) sum += work_[u].row_sums[b];
    if (head < 0) row_loss[b] = static_cast<float>(sum / D);
    else row_loss[b] = static_cast<float>(loss_ == Loss::bce ? sum : gaussian_nll(sum, D));
    total += static_cast<double>(row_loss[b]);
  }
  if (head < 0) return StepLosses{total / B, total / B, 0.0};
  return StepLosses{(total + beta_ * kl) / B, total / B, kl / B};
}

}  // namespace pyae
