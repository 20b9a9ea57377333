#include "vae_network.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "batch.h"
#include "dense.h"
#include "noise.h"
#include "scratch.h"
#include "vae.h"

namespace pyae {

VaeNetwork::VaeNetwork(int D, std::vector<int> hidden, int Z, Activation hidden_act,
                       Activation output_act, Loss reconstruction, double beta,
                       OptimizerConfig opt)
    : D_(D), Z_(Z), recon_(reconstruction), beta_(static_cast<float>(beta)), opt_(opt) {
  if (D < 1 || Z < 1) throw std::invalid_argument("features and latent_dim must be >= 1");
  for (int h : hidden)
    if (h < 1) throw std::invalid_argument("hidden widths must be >= 1");
  if (beta < 0) throw std::invalid_argument("beta must be >= 0");
  std::vector<int> enc{D};
  enc.insert(enc.end(), hidden.begin(), hidden.end());
  std::size_t cursor = 0;
  auto add = [&](int d_in, int d_out, Activation act) {
    VaeLayer l{d_in, d_out, act, cursor, cursor + static_cast<std::size_t>(d_in) * d_out};
    cursor = l.bias_offset + d_out;
    layers_.push_back(l);
  };
  for (std::size_t i = 0; i + 1 < enc.size(); ++i) add(enc[i], enc[i + 1], hidden_act);
  head_ = static_cast<int>(layers_.size());
  add(enc.back(), 2 * Z, Activation::identity);
  std::vector<int> dec{Z};
  dec.insert(dec.end(), hidden.rbegin(), hidden.rend());
  dec.push_back(D);
  for (std::size_t i = 0; i + 1 < dec.size(); ++i)
    add(dec[i], dec[i + 1], i + 2 == dec.size() ? output_act : hidden_act);
  params_.resize(cursor);
  grads_.resize(cursor);
  opt_.allocate(cursor);
}

void VaeNetwork::reserve(int max_batch) {
  if (max_batch <= capacity_) return;
  const int L = static_cast<int>(layers_.size());
  acts_ = std::vector<FloatBuffer>(L + 1);
  dacts_ = std::vector<FloatBuffer>(L + 1);
  for (int l = 0; l <= L; ++l) {
    int width = l < L ? layers_[l].d_in : D_;
    acts_[l].resize(static_cast<std::size_t>(max_batch) * width);
    if (l > 0) dacts_[l].resize(static_cast<std::size_t>(max_batch) * width);
  }
  ml_.resize(static_cast<std::size_t>(max_batch) * 2 * Z_);
  dml_.resize(static_cast<std::size_t>(max_batch) * 2 * Z_);
  eps_.resize(static_cast<std::size_t>(max_batch) * Z_);
  row_a_.resize(max_batch);
  row_b_.resize(max_batch);
  capacity_ = max_batch;
}

VaeStepResult VaeNetwork::train_step(const float* data, std::int64_t n_rows,
                                     const std::int64_t* batch_rows, int B, const float* eps) {
  VaeStepResult r = forward_backward(data, n_rows, batch_rows, B, eps);
  opt_.step(params_.data(), grads_.data(), params_.size());
  return r;
}

VaeStepResult VaeNetwork::compute_gradients(const float* data, std::int64_t n_rows,
                                            const std::int64_t* batch_rows, int B,
                                            const float* eps) {
  VaeStepResult r = forward_backward(data, n_rows, batch_rows, B, eps);
  grads_dirty_ = true;
  return r;
}

VaeStepResult VaeNetwork::forward_backward(const float* data, std::int64_t n_rows,
                                           const std::int64_t* batch_rows, int B,
                                           const float* eps) {
  if (B < 1) throw std::invalid_argument("empty batch");
  reserve(B);
  if (grads_dirty_) {
    grads_.zero();
    grads_dirty_ = false;
  }
  const int L = static_cast<int>(layers_.size());
  const float* p = params_.data();
  float* g = grads_.data();
  float* x = acts_[0].data();
  gather_rows(x, data, n_rows, batch_rows, B, D_);
  // Forward: encoder and head, reparameterisation, decoder (logits for BCE).
  auto dense = [&](int l, const float* in, float* out, Activation act) {
    const VaeLayer& s = layers_[l];
    dense_forward(out, in, p + s.weight_offset, p + s.bias_offset,
                  DenseDims{B, s.d_in, s.d_out, act, false});
  };
  for (int l = 0; l < head_; ++l) dense(l, acts_[l].data(), acts_[l + 1].data(), layers_[l].act);
  dense(head_, acts_[head_].data(), ml_.data(), Activation::identity);
  const std::size_t nz = static_cast<std::size_t>(B) * Z_;
  if (eps != nullptr) {
    std::memcpy(eps_.data(), eps, nz * sizeof(float));
  } else {
    philox_normal(eps_.data(), nz, seed_, static_cast<std::uint64_t>(opt_.step_count()), 0);
  }
  float* z = acts_[head_ + 1].data();
  reparameterize_forward(z, ml_.data(), eps_.data(), B, Z_);
  for (int l = head_ + 1; l < L; ++l) {
    Activation act = (l == L - 1 && recon_ == Loss::bce) ? Activation::identity : layers_[l].act;
    dense(l, acts_[l].data(), acts_[l + 1].data(), act);
  }
  // Losses and their gradients (means over the batch).
  for (int l = 1; l <= L; ++l)
    std::memset(dacts_[l].data(), 0,
                sizeof(float) * B * (l < L ? layers_[l].d_in : D_));
  std::memset(dml_.data(), 0, sizeof(float) * B * 2 * Z_);
  const float inv_b = 1.0f / static_cast<float>(B);
  double recon = reconstruction_nll_backward(dacts_[L].data(), row_a_.data(), acts_[L].data(), x,
                                             B, D_, recon_, inv_b);
  double kl = kl_backward(dml_.data(), row_b_.data(), ml_.data(), B, Z_, beta_ * inv_b);
  // Backward: decoder down to dz, reparameterisation, head, encoder.
  auto dense_back = [&](int l, float* dinp, Activation act) {
    const VaeLayer& s = layers_[l];
    float* dout = (l == head_) ? dml_.data() : dacts_[l + 1].data();
    const float* out = (l == head_) ? ml_.data() : acts_[l + 1].data();
    dense_backward(dinp, g + s.weight_offset, g + s.bias_offset, dout, dout, out,
                   acts_[l].data(), p + s.weight_offset,
                   DenseDims{B, s.d_in, s.d_out, act, false});
  };
  for (int l = L - 1; l > head_; --l) {
    Activation act = (l == L - 1 && recon_ == Loss::bce) ? Activation::identity : layers_[l].act;
    dense_back(l, dacts_[l].data(), act);
  }
  reparameterize_backward(dml_.data(), dacts_[head_ + 1].data(), z, ml_.data(), B, Z_);
  for (int l = head_; l >= 0; --l)
    dense_back(l, l > 0 ? dacts_[l].data() : nullptr,
               l == head_ ? Activation::identity : layers_[l].act);
  return VaeStepResult{(recon + beta_ * kl) / B, recon / B, kl / B};
}

void VaeNetwork::run_layers(const float* inp, float* out, int B, int first, int last,
                            bool logits) const {
  int widest = 0;
  for (int l = first; l < last; ++l) widest = std::max(widest, layers_[l].d_out);
  float* scratch[2] = {thread_scratch(kScratchA, static_cast<std::size_t>(B) * widest),
                       thread_scratch(kScratchB, static_cast<std::size_t>(B) * widest)};
  const float* p = params_.data();
  const float* cur = inp;
  for (int l = first; l < last; ++l) {
    const VaeLayer& s = layers_[l];
    float* dst = (l == last - 1) ? out : scratch[(l - first) % 2];
    Activation act = (l == last - 1 && logits) ? Activation::identity : s.act;
    dense_forward(dst, cur, p + s.weight_offset, p + s.bias_offset,
                  DenseDims{B, s.d_in, s.d_out, act, false});
    cur = dst;
  }
}

void VaeNetwork::encode(const float* x, float* mu_logvar, int B) const {
  if (B > 0) run_layers(x, mu_logvar, B, 0, head_ + 1, false);
}

void VaeNetwork::decode(const float* z, float* out, int B) const {
  if (B > 0) run_layers(z, out, B, head_ + 1, static_cast<int>(layers_.size()), false);
}

void VaeNetwork::reconstruction_nll(const float* z, const float* x, float* nll, int B) const {
  if (B < 1) return;
  float* out = thread_scratch(kScratchOut, static_cast<std::size_t>(B) * D_);
  run_layers(z, out, B, head_ + 1, static_cast<int>(layers_.size()), recon_ == Loss::bce);
  reconstruction_nll_backward(nullptr, nll, out, x, B, D_, recon_, 0.0f);
}

}  // namespace pyae
