// A variational autoencoder as one C++ object.
//
// Shapes: D data features, hidden = {H1, ..., Hk}, Z latent, B batch, N
// parameters. Layers: encoder D -> H1 -> ... -> Hk, head Hk -> 2Z (identity:
// [mu | log sigma^2]), decoder Z -> Hk -> ... -> H1 -> D. The loss of a batch
// is the mean over samples of  NLL(x | z) + beta * KL(q(z|x) || N(0, I)),
// with z = mu + sigma * eps; for beta = 1 it is the negative ELBO in nats.
#pragma once

#include <cstdint>
#include <vector>

#include "buffer.h"
#include "common.h"
#include "loss.h"
#include "optimizer.h"

namespace pyae {

struct VaeLayer {
  int d_in, d_out;
  Activation act;
  std::size_t weight_offset;  // (d_out, d_in)
  std::size_t bias_offset;    // (d_out)
};

struct VaeStepResult {
  double loss, reconstruction, kl;  // batch means
};

class VaeNetwork {
 public:
  VaeNetwork(int D, std::vector<int> hidden, int Z, Activation hidden_act,
             Activation output_act, Loss reconstruction, double beta, OptimizerConfig opt);

  const std::vector<VaeLayer>& layers() const { return layers_; }
  int latent_dim() const { return Z_; }
  int features() const { return D_; }
  std::size_t num_params() const { return params_.size(); }
  float* params() { return params_.data(); }
  const float* grads() const { return grads_.data(); }
  Optimizer& optimizer() { return opt_; }
  void set_seed(std::uint64_t seed) { seed_ = seed; }

  void reserve(int max_batch);

  // One step on rows `batch_rows` of data. eps (B, Z) injects the noise;
  // null draws it from Philox keyed by (seed, step count, b * Z + j).
  VaeStepResult train_step(const float* data,  // (n_rows, D)
                           std::int64_t n_rows, const std::int64_t* batch_rows, int B,
                           const float* eps);  // (B, Z) or null
  // The same without the update; the gradient stays in grads().
  VaeStepResult compute_gradients(const float* data, std::int64_t n_rows,
                                  const std::int64_t* batch_rows, int B, const float* eps);

  // Inference (thread-safe; per-thread scratch reused between calls).
  void encode(const float* x,     // (B, D)
              float* mu_logvar,   // (B, 2Z)
              int B) const;
  void decode(const float* z,     // (B, Z)
              float* out,         // (B, D) decoder mean
              int B) const;
  // Per-sample -log p(x | z).
  void reconstruction_nll(const float* z,  // (B, Z)
                          const float* x,  // (B, D)
                          float* nll,      // (B)
                          int B) const;

 private:
  VaeStepResult forward_backward(const float* data, std::int64_t n_rows,
                                 const std::int64_t* batch_rows, int B, const float* eps);
  // Runs layers [first, last) from inp into out; the last layer's activation
  // can be overridden (logits for BCE). scratch: two (B, widest) buffers.
  void run_layers(const float* inp, float* out, int B, int first, int last, bool logits) const;

  int D_, Z_;
  int head_;  // index of the head layer; the decoder starts at head_ + 1
  Loss recon_;
  float beta_;
  std::uint64_t seed_ = 0;
  std::vector<VaeLayer> layers_;
  FloatBuffer params_, grads_;  // (N)
  bool grads_dirty_ = false;
  Optimizer opt_;

  // Training workspace: acts_[l] is layer l's input, acts_[L] the logits or
  // output; acts_[head_ + 1] is z (B, Z), ml_ the head output (B, 2Z).
  int capacity_ = 0;
  std::vector<FloatBuffer> acts_, dacts_;
  FloatBuffer ml_, dml_, eps_, row_a_, row_b_;
};

}  // namespace pyae
