// A dense autoencoder as one C++ object: parameters in one flat buffer,
// a training step that runs forward, loss, backward and the optimiser in a
// single call, and a forward pass for inference.
//
// Shapes: widths = {D, H1, ..., Hk, ..., D}; layer l maps widths[l] to
// widths[l+1]. B is the batch, N the number of parameters.
#pragma once

#include <cstdint>
#include <vector>

#include "buffer.h"
#include "common.h"
#include "loss.h"
#include "noise.h"
#include "optimizer.h"

namespace pyae {

struct LayerSpec {
  int d_in, d_out;
  Activation act;
  std::size_t weight_offset;  // into params; (d_out, d_in), or (d_in, d_out) if transposed
  std::size_t bias_offset;    // into params; (d_out)
  bool weight_transposed;     // tied decoder layer reusing an encoder weight
  bool owns_weight;           // false for tied decoder layers
};

class Network {
 public:
  // activations has one entry per layer. tied: decoder layers use the
  // mirrored encoder weights transposed (widths must be a palindrome).
  Network(std::vector<int> widths, std::vector<Activation> activations, bool tied, Loss loss,
          OptimizerConfig optimizer);

  const std::vector<LayerSpec>& layers() const { return layers_; }
  const std::vector<int>& widths() const { return widths_; }
  int code_layer() const { return code_layer_; }  // index of the innermost layer's output
  std::size_t num_params() const { return params_.size(); }
  float* params() { return params_.data(); }
  Optimizer& optimizer() { return opt_; }

  // Denoising: every training batch is corrupted afresh inside the step,
  // with noise keyed by (seed, step count, element index in the batch).
  void set_noise(const NoiseConfig& noise, std::uint64_t seed) {
    noise_ = noise;
    noise_seed_ = seed;
  }

  // Allocates every training buffer for batches of up to max_batch rows.
  void reserve(int max_batch);

  // One optimisation step on the rows `batch_rows` of `data`; returns the
  // mean loss of the batch before the update. Allocates nothing once
  // reserve(B) has run.
  double train_step(const float* data,             // (n_rows, D)
                    std::int64_t n_rows,
                    const std::int64_t* batch_rows,  // (B) row indices into data
                    int B);

  // Forward, loss and backward on the batch without updating anything; the
  // gradient is left in grads() (for gradient checks). Returns the loss.
  double compute_gradients(const float* data,  // (n_rows, D)
                           std::int64_t n_rows,
                           const std::int64_t* batch_rows,  // (B)
                           int B);
  const float* grads() const { return grads_.data(); }

  // Runs layers [first, last) on x. Thread-safe; scratch is per thread and
  // reused, so repeated calls allocate nothing.
  void forward(const float* x,  // (B, widths[first])
               float* out,      // (B, widths[last])
               int B, int first, int last) const;

  // Per-sample loss (mean over features) of the network's output for x
  // against target (x itself for plain reconstruction).
  void score_samples(const float* x,       // (B, D)
                     const float* target,  // (B, D)
                     float* scores,        // (B)
                     int B) const;

 private:
  double forward_backward(const float* data, std::int64_t n_rows,
                          const std::int64_t* batch_rows, int B);
  void forward_train(int B);
  void backward(int B);

  std::vector<int> widths_;
  std::vector<LayerSpec> layers_;
  int code_layer_;
  Loss loss_;
  NoiseConfig noise_{NoiseKind::none, 0.0f, 0.0f, 0.0f, 1.0f};
  std::uint64_t noise_seed_ = 0;

  FloatBuffer params_;     // (N)
  FloatBuffer grads_;      // (N) zero between steps: the optimiser zeroes what it reads
  bool grads_dirty_ = false;  // compute_gradients left a gradient in grads_
  Optimizer opt_;

  // Training workspace, sized by reserve(): acts_[l] is (B, widths[l]).
  int capacity_ = 0;
  std::vector<FloatBuffer> acts_;
  std::vector<FloatBuffer> dacts_;
  FloatBuffer clean_;     // (B, D) targets when the input is corrupted
  FloatBuffer row_loss_;  // (B)
};

}  // namespace pyae
