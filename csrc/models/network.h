// One training network for every model pyae has: autoencoders, denoising
// autoencoders and VAEs differ only in their layer table (a latent head
// makes the reparameterisation and the KL term a stage of the step) and in
// the noise applied to the input. Parameters live in one flat buffer; a
// training step (gather, corrupt, forward, loss, backward, optimiser) is one
// call that allocates nothing once reserve() has run.
//
// Shapes: D features, B batch, N parameters, Z latent width; layer l maps
// (B, d_in) to (B, d_out) as its table row says.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "kernels/bf16_gemm.h"
#include "kernels/dense.h"
#include "kernels/int8_gemm.h"
#include "kernels/noise.h"
#include "math/enums.h"
#include "models/layer_table.h"
#include "models/optimizer_state.h"
#include "runtime/buffer.h"

namespace pyae {

// Batch means of the step's loss and its two parts (kl is 0 without a
// latent head; then loss == reconstruction).
struct StepLosses {
  double loss, reconstruction, kl;
};

// How a training step shares the batch between threads (train_step).
// rows: each thread takes a contiguous shard of the batch with every weight
// (data parallel). columns: each thread takes a strip of every layer's
// output columns (its rows of the weight) for the whole batch, owns that
// strip's gradient and update, and the threads add their parts of each
// input gradient (model parallel; untied networks: a latent head is one
// thread's).
// automatic: columns where they apply, the batch is too small for a shard
// of rows per thread and the network is not tiny (network.cpp), else rows.
enum class StepSplit { automatic, rows, columns };

class Network {
 public:
  // loss: mse or bce (from logits; needs a sigmoid output). Without a latent
  // head the loss is the mean over all B * D elements; with one it is the
  // VAE's per-sample NLL (summed over features) + beta * KL, mean over B.
  Network(LayerTable table, Loss loss, OptimizerConfig optimizer, double beta = 1.0);

  const LayerTable& table() const { return table_; }
  Loss loss() const { return loss_; }
  std::size_t num_params() const { return params_.size(); }
  // For writing: marks the parameters changed (inference re-packs its
  // weights at its next call, and so does a training step). Write through the
  // pointer before the next inference call or training step, not after:
  // fetch it again for a later write.
  float* params() {
    ++params_version_;
    return params_.data();
  }
  const float* const_params() const { return params_.data(); }
  const float* grads() const { return grads_.data(); }
  Optimizer& optimizer() { return opt_; }

  // Every training batch is corrupted afresh inside the step, keyed by
  // (noise seed, step count, element index in the batch).
  void set_noise(const NoiseConfig& noise, std::uint64_t seed);
  // The KL term's weight (>= 0, finite), from the next step on.
  void set_beta(double beta);
  // The reparameterisation's epsilon: Philox keyed by (seed, step count, b * Z + j).
  void set_latent_seed(std::uint64_t seed) { latent_seed_ = seed; }
  // The arithmetic of every GEMM, training and inference alike (int8:
  // inference only; a training step throws). bf16 and int8 take the
  // fastest path of this CPU (bf16_best_path, int8_best_path) at this call
  // and throw std::runtime_error, naming what is missing, on a CPU without one.
  void set_precision(Precision precision);
  Precision precision() const { return precision_; }
  // The paths inference runs on now (none: fp32 GEMMs).
  Bf16Path gemm_path() const { return static_cast<Bf16Path>(inference_paths_ & 0xff); }
  Int8Path int8_path() const { return static_cast<Int8Path>(inference_paths_ >> 8); }

  // Takes effect at the next step; columns on a tied network (its weight's
  // two users would own different parts of it) falls back to rows.
  void set_step_split(StepSplit split);
  StepSplit step_split() const { return split_; }
  // Whether a step of B rows on `threads` threads is split by columns.
  bool splits_columns(int B, int threads) const;

  // Allocates every training buffer for batches of up to max_batch rows.
  // Training calls (this, train_step, compute_gradients) from several
  // threads are serialised: they share the buffers.
  void reserve(int max_batch);

  // One optimisation step on rows `batch_rows` of data; returns the batch's
  // losses before the update. eps injects the VAE's noise (null: Philox).
  StepLosses train_step(const float* data,               // (n_rows, D)
                        std::int64_t n_rows,
                        const std::int64_t* batch_rows,  // (B) row indices into data
                        int B,
                        const float* eps = nullptr);     // (B, Z) or null
  // The same without the update: the gradient stays in grads(). keys (B),
  // when given, are the rows' positions in a larger batch split across
  // processes: row b's noise and epsilon are drawn at counter keys[b] * width,
  // the bits that row would get at that position of one whole batch (null:
  // positions 0..B-1, as train_step).
  StepLosses compute_gradients(const float* data, std::int64_t n_rows,
                               const std::int64_t* batch_rows, int B, const float* eps = nullptr,
                               const std::int64_t* keys = nullptr);
  // The optimiser step from grads() (as summed across processes); zeroes them.
  void apply_gradients();
  float* mutable_grads() { return grads_.data(); }

  // Runs layers [first, last) on x. Passing through a latent head continues
  // from its mu (the posterior mean). Thread-safe, and never overlaps a
  // training step or a setting's change (they wait for the calls reading
  // the weights); per-thread scratch is reused, so repeated calls allocate
  // nothing.
  void forward(const float* x,  // (B, input_width(first))
               float* out,      // (B, d_out of layer last - 1)
               int B, int first, int last) const;

  // Per-sample loss of the network's output, run from layer `first` on x,
  // against target: the training loss per sample (mean over features; for a
  // VAE the reconstruction NLL summed over features). Used for anomaly
  // scores and for the VAE's Monte Carlo estimates (first = decoder_start).
  void row_losses(const float* x,       // (B, input_width(first))
                  const float* target,  // (B, D)
                  float* rows,          // (B)
                  int B, int first) const;

 private:
  // forward with train_mutex_ already held (shared) by the caller.
  void forward_locked(const float* x, float* out, int B, int first, int last) const;
  // Every layer's weight packed for one sharded training step, by layer,
  // instead of each GEMM packing it again. bf16: shared by the shards. fp32:
  // each shard's own (Workspace::fp32_packs), which it fills itself.
  struct StepPacks {
    std::vector<std::unique_ptr<Bf16PackedB>> bf16;       // forward's op(B)
    std::vector<std::unique_ptr<Bf16PackedB>> bf16_dinp;  // the input gradient's op(B)
    bool use_fp32 = false, use_bf16 = false;              // what this step packs
    // The params_version_ both bf16 packs hold whole, set by a step that
    // re-packed them as it updated (0: none; any other change moves the
    // version on, and the next step packs from the live weights).
    std::uint64_t bf16_version = 0;
  };
  // Every layer's bf16 weight packed for inference (null for layers that
  // share another's), made on first use after the parameters or the
  // precision changed. Readers keep their snapshot alive while they run.
  struct PackedWeights {
    std::uint64_t version;
    Bf16Path path;
    Int8Path int8_path;
    std::vector<std::unique_ptr<Bf16PackedB>> bf16_layers; // bf16
    std::vector<std::unique_ptr<Int8PackedB>> int8_layers; // int8
    std::vector<std::unique_ptr<Fp32PackedB>> fp32_layers; // fp32 (AVX-512 CPUs)
  };
  // The snapshot an inference call of B rows runs on: its paths, and the
  // packed weights. fp32 packs only for batches past the small-batch
  // kernel (which reads the live weights) and only on AVX-512 CPUs.
  std::shared_ptr<const PackedWeights> packed_weights(int B) const;
  // Layer l's forward dimensions for inference, on its packed weight if any.
  DenseDims inference_dims(const PackedWeights* packed, int l, int B, Activation act) const;

  // The buffers of one forward/backward pass over up to `capacity` rows:
  // acts[l] is layer l's input (B, d_in), acts[L] the output (logits for
  // BCE); pre[l] layer l's pre-activation, kept only where its activation's
  // gradient needs it; grads (N) the gradient of a shard after the first.
  struct Workspace {
    int capacity = 0;
    std::vector<FloatBuffer> acts, dacts, pre;
    FloatBuffer clean;               // (B, D) the targets when the input is corrupted
    FloatBuffer head_out, dhead_out; // (B, 2Z) latent head output and its gradient
    FloatBuffer eps;                 // (B, Z)
    FloatBuffer row_nll, row_kl;     // (B) per-sample losses of the step
    FloatBuffer grads;               // (N) shards > 0 only
    // A column-split step's parts of an input gradient, two so a thread
    // writes the next layer's while the others still read the last's
    // (B, widest D_in past layer 0); and its loss summed over its columns (B).
    FloatBuffer dinp_parts[2];
    std::vector<double> row_sums;
    // The forward's op(B) of every layer in fp32 for a sharded step on
    // AVX-512, this shard's own copy (see pack_for_step).
    std::vector<std::unique_ptr<Fp32PackedB>> fp32_packs;
  };

  void reserve_locked(Workspace& w, int max_batch);  // with train_mutex_ held
  // Before a step's gradient: refuses int8 (inference only) and zeroes a
  // gradient compute_gradients left unused.
  void begin_gradient();
  // The step's gradient into `grads` (accumulated; zero on entry). keys:
  // see compute_gradients; without them row b draws at position first_key + b.
  // packs: the weights packed for this (sharded) step, or null.
  StepLosses forward_backward(Workspace& w, float* grads, const float* data,
                              std::int64_t n_rows, const std::int64_t* batch_rows, int B,
                              const float* eps, const std::int64_t* keys,
                              std::int64_t first_key = 0, const StepPacks* packs = nullptr);
  // train_step over T threads: each takes a contiguous shard of the batch on
  // one core (its noise drawn at its rows' places in the whole batch), and
  // the optimiser reads the shards' gradients weighted by their share.
  StepLosses sharded_step(const float* data, std::int64_t n_rows,
                          const std::int64_t* batch_rows, int B, const float* eps, int T);
  // train_step with threads splitting every layer's output columns (see
  // StepSplit), on up to T threads.
  StepLosses column_step(const float* data, std::int64_t n_rows, const std::int64_t* batch_rows,
                         int B, const float* eps, int T);
  // Allocates the step packs this precision uses, each set whole or not at
  // all: fp32 (AVX-512 CPUs) one set in each of the first fp32_sets
  // workspaces; bf16 the forward's, and with dinp the input gradient's.
  void allocate_step_packs(int fp32_sets, bool dinp);
  // Packs every layer's weight for a sharded step: bf16 for both GEMMs that
  // read it, the T threads splitting the panels; for fp32 (the forward on
  // AVX-512 CPUs; the input gradient reads an fp32 weight in place, a tied
  // one packed per call) it only allocates the shards' packs. bf16 packs
  // the last step left whole (bf16_version) are used as they are. Null when
  // there is nothing to pack.
  const StepPacks* pack_for_step(int T);
  // Whether a sharded step updates the parameters in the shards' parallel
  // region after a barrier, each thread its rows of every weight,
  // re-packing their bf16 panels while they are in cache
  // (update_and_repack): bf16 packs and every weight the layer's own (a
  // tied weight's rows are two layers').
  bool updates_in_step() const;
  // Thread t of n's part of that: its rows of each weight (whole panels)
  // and their biases, updated from the shards' gradient parts, and re-packed.
  void update_and_repack(const GradientParts& grads, int t, int n, long long step);
  // A shard's fp32 packs, from the live weights, by the shard's own thread:
  // reading a pack another core just wrote made the forward GEMM ~1.45x
  // slower (benchmarks/bench_cross_core.py), more than packing it again.
  void repack_fp32(Workspace& w) const;
  void forward_train(Workspace& w, int B, const float* eps, const std::int64_t* keys,
                     std::int64_t first_key, const StepPacks* packs);
  // A VAE's latent head l in the forward: z = mu + exp(logvar / 2) * eps,
  // eps injected (B, Z) or drawn by Philox at each row's place (keys[b], or
  // first_key + b).
  void sample_latent(Workspace& w, int l, int B, const float* eps, const std::int64_t* keys,
                     std::int64_t first_key);
  // The KL term: its per-row values, and its gradient as the first part of
  // the head's (dhead_out zeroed first); returns its sum.
  double kl_term(Workspace& w, int B);
  StepLosses loss_and_gradient(Workspace& w, const float* target, int B);
  void backward(Workspace& w, float* grads, int B, const StepPacks* packs);
  // The activation a layer trains with: BCE keeps the last layer's logits.
  Activation train_act(int l) const;
  // Where layer l writes its output during training: the latent head's
  // [mu | log sigma^2] goes to head_out, every other layer to acts[l + 1].
  float* train_out(Workspace& w, int l);
  float* train_dout(Workspace& w, int l);

  LayerTable table_;
  Loss loss_;
  float beta_;
  Precision precision_ = Precision::fp32;
  // Inference's bf16 path (low byte) and int8 path (next byte), one atomic
  // so a call reads a consistent pair while another thread changes them.
  std::atomic<std::uint32_t> inference_paths_{0};
  std::atomic<std::uint64_t> params_version_{1};       // bumped by every parameter change
  mutable std::mutex pack_mutex_;                      // guards packed_
  mutable std::shared_ptr<const PackedWeights> packed_;
  NoiseConfig noise_{NoiseKind::none, 0.0f, 0.0f, 0.0f, 1.0f};
  std::uint64_t noise_seed_ = 0, latent_seed_ = 0;

  FloatBuffer params_;        // (N)
  FloatBuffer grads_;         // (N) zero between steps: the optimiser zeroes what it reads
  bool grads_dirty_ = false;  // compute_gradients left a gradient in grads_
  Optimizer opt_;

  // Training workspaces, sized by reserve(): work_[0] for a whole batch,
  // work_[t] for shard t of a batch split across threads.
  // Guards the training workspaces, the update and the settings; inference
  // holds it shared, so a step never changes the weights under a call
  // already reading them.
  mutable std::shared_mutex train_mutex_;
  std::vector<Workspace> work_;
  StepPacks step_packs_;  // pack_for_step's buffers, reused step after step
  StepSplit split_ = StepSplit::automatic;
};

}  // namespace pyae
