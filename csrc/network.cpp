#include "network.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "batch.h"
#include "dense.h"
#include "parallel.h"
#include "scratch.h"

namespace pyae {

namespace {

DenseDims dims_of(const LayerSpec& l, int B, Activation act) {
  return DenseDims{B, l.d_in, l.d_out, act, l.weight_transposed};
}

}  // namespace

Network::Network(std::vector<int> widths, std::vector<Activation> activations, bool tied,
                 Loss loss, OptimizerConfig optimizer)
    : widths_(std::move(widths)), loss_(loss), opt_(optimizer) {
  const int L = static_cast<int>(widths_.size()) - 1;
  if (L < 1) throw std::invalid_argument("a network needs at least one layer");
  if (static_cast<int>(activations.size()) != L)
    throw std::invalid_argument("need one activation per layer");
  for (int w : widths_)
    if (w < 1) throw std::invalid_argument("layer widths must be >= 1");
  if (tied) {
    if (L % 2 != 0) throw std::invalid_argument("tied weights need an even number of layers");
    for (int l = 0; l <= L; ++l)
      if (widths_[l] != widths_[L - l])
        throw std::invalid_argument("tied weights need mirrored widths");
  }
  code_layer_ = (L + 1) / 2;  // activation index of the code (innermost layer)
  std::size_t cursor = 0;
  for (int l = 0; l < L; ++l) {
    LayerSpec s{};
    s.d_in = widths_[l];
    s.d_out = widths_[l + 1];
    s.act = activations[l];
    s.owns_weight = !(tied && l >= L / 2);
    s.weight_transposed = !s.owns_weight;
    if (s.owns_weight) {
      s.weight_offset = cursor;
      cursor += static_cast<std::size_t>(s.d_in) * s.d_out;
    } else {
      s.weight_offset = layers_[L - 1 - l].weight_offset;
    }
    s.bias_offset = cursor;
    cursor += s.d_out;
    layers_.push_back(s);
  }
  params_.resize(cursor);
  grads_.resize(cursor);
  opt_.allocate(cursor);
}

void Network::reserve(int max_batch) {
  if (max_batch <= capacity_) return;
  const int L = static_cast<int>(layers_.size());
  acts_.clear();
  dacts_.clear();
  acts_ = std::vector<FloatBuffer>(L + 1);
  dacts_ = std::vector<FloatBuffer>(L + 1);
  for (int l = 0; l <= L; ++l) {
    std::size_t n = static_cast<std::size_t>(max_batch) * widths_[l];
    acts_[l].resize(n);
    if (l > 0) dacts_[l].resize(n);
  }
  if (noise_.kind != NoiseKind::none) clean_.resize(static_cast<std::size_t>(max_batch) * widths_[0]);
  row_loss_.resize(max_batch);
  capacity_ = max_batch;
}

double Network::train_step(const float* data, std::int64_t n_rows, const std::int64_t* batch_rows,
                           int B) {
  double loss = forward_backward(data, n_rows, batch_rows, B);
  opt_.step(params_.data(), grads_.data(), params_.size());
  return loss;
}

double Network::compute_gradients(const float* data, std::int64_t n_rows,
                                  const std::int64_t* batch_rows, int B) {
  double loss = forward_backward(data, n_rows, batch_rows, B);
  grads_dirty_ = true;
  return loss;
}

double Network::forward_backward(const float* data, std::int64_t n_rows,
                                 const std::int64_t* batch_rows, int B) {
  if (B < 1) throw std::invalid_argument("empty batch");
  reserve(B);
  if (grads_dirty_) {
    grads_.zero();
    grads_dirty_ = false;
  }
  const int D = widths_[0];
  const bool denoising = noise_.kind != NoiseKind::none;
  if (denoising && clean_.size() < static_cast<std::size_t>(B) * D)
    clean_.resize(static_cast<std::size_t>(capacity_) * D);
  // x: the reconstruction target (clean rows); acts_[0]: the network input.
  float* x = denoising ? clean_.data() : acts_[0].data();
  gather_rows(x, data, n_rows, batch_rows, B, D);
  if (denoising)
    corrupt(acts_[0].data(), x, static_cast<std::size_t>(B) * D, noise_, noise_seed_,
            static_cast<std::uint64_t>(opt_.step_count()), 0);
  forward_train(B);
  const int L = static_cast<int>(layers_.size());
  for (int l = 1; l <= L; ++l)
    std::memset(dacts_[l].data(), 0, sizeof(float) * static_cast<std::size_t>(B) * widths_[l]);
  double loss = loss_ == Loss::bce
                    ? bce_logits_loss_backward(dacts_[L].data(), row_loss_.data(),
                                               acts_[L].data(), x, B, D)
                    : mse_loss_backward(dacts_[L].data(), row_loss_.data(), acts_[L].data(), x,
                                        B, D);
  backward(B);
  return loss;
}

void Network::forward_train(int B) {
  const int L = static_cast<int>(layers_.size());
  const float* p = params_.data();
  for (int l = 0; l < L; ++l) {
    const LayerSpec& s = layers_[l];
    // With BCE the last layer keeps its logits; the loss applies the sigmoid.
    Activation act = (l == L - 1 && loss_ == Loss::bce) ? Activation::identity : s.act;
    dense_forward(acts_[l + 1].data(), acts_[l].data(), p + s.weight_offset, p + s.bias_offset,
                  dims_of(s, B, act));
  }
}

void Network::backward(int B) {
  const int L = static_cast<int>(layers_.size());
  const float* p = params_.data();
  float* g = grads_.data();
  for (int l = L - 1; l >= 0; --l) {
    const LayerSpec& s = layers_[l];
    Activation act = (l == L - 1 && loss_ == Loss::bce) ? Activation::identity : s.act;
    float* dout = dacts_[l + 1].data();
    dense_backward(l > 0 ? dacts_[l].data() : nullptr, g + s.weight_offset, g + s.bias_offset,
                   dout, dout, acts_[l + 1].data(), acts_[l].data(), p + s.weight_offset,
                   dims_of(s, B, act));
  }
}

void Network::forward(const float* x, float* out, int B, int first, int last) const {
  const int L = static_cast<int>(layers_.size());
  if (first < 0 || last > L || first >= last) throw std::out_of_range("bad layer range");
  if (B < 1) return;
  int widest = 0;
  for (int l = first + 1; l < last; ++l) widest = std::max(widest, widths_[l]);
  float* scratch[2] = {nullptr, nullptr};
  if (last - first > 1) scratch[0] = thread_scratch(kScratchA, static_cast<std::size_t>(B) * widest);
  if (last - first > 2) scratch[1] = thread_scratch(kScratchB, static_cast<std::size_t>(B) * widest);
  const float* p = params_.data();
  auto run_layers = [&](auto&& run_layer) {
    const float* cur = x;
    for (int l = first; l < last; ++l) {
      float* dst = (l == last - 1) ? out : scratch[(l - first) % 2];
      run_layer(dst, cur, layers_[l]);
      cur = dst;
    }
  };
  double work = 0.0;
  for (int l = first; l < last; ++l) work += static_cast<double>(B) * widths_[l] * widths_[l + 1];
  const int threads = threads_for_work(work);
  if (threads > 1 && B < 16 * threads) {
    // Small batches split every layer's outputs across threads: one parallel
    // region with a barrier per layer costs far less than a region per layer.
    run_parallel(threads, [&](int thread, int nthreads) {
      run_layers([&](float* dst, const float* src, const LayerSpec& s) {
        dense_forward_tile(dst, src, p + s.weight_offset, p + s.bias_offset,
                           dims_of(s, B, s.act), thread, nthreads);
#pragma omp barrier
      });
    });
  } else {
    run_layers([&](float* dst, const float* src, const LayerSpec& s) {
      dense_forward(dst, src, p + s.weight_offset, p + s.bias_offset, dims_of(s, B, s.act));
    });
  }
}

void Network::score_samples(const float* x, const float* target, float* scores, int B) const {
  const int L = static_cast<int>(layers_.size());
  const int D = widths_[0];
  if (B < 1) return;
  float* recon = thread_scratch(kScratchOut, static_cast<std::size_t>(B) * D);
  if (loss_ == Loss::bce) {
    // Stable BCE needs the logits: run all but the last layer, then the last
    // one without its sigmoid.
    const LayerSpec& s = layers_[L - 1];
    float* hidden = thread_scratch(kScratchHidden, static_cast<std::size_t>(B) * s.d_in);
    if (L > 1) forward(x, hidden, B, 0, L - 1);
    const float* h = L > 1 ? hidden : x;
    dense_forward(recon, h, params_.data() + s.weight_offset, params_.data() + s.bias_offset,
                  dims_of(s, B, Activation::identity));
    bce_logits_loss_backward(nullptr, scores, recon, target, B, D);
  } else {
    forward(x, recon, B, 0, L);
    mse_loss_backward(nullptr, scores, recon, target, B, D);
  }
}

}  // namespace pyae
