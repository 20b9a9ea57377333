#include "models/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/batch.h"
#include "kernels/dense.h"
#include "kernels/latent.h"
#include "kernels/loss.h"
#include "runtime/parallel.h"
#include "runtime/scratch.h"

namespace pyae {

namespace {

DenseDims dims_of(const LayerSpec& s, int B, Activation act, Bf16Path path) {
  DenseDims d{B, s.d_in, s.d_out, act, !s.owns_weight()};
  d.gemm_path = path;
  return d;
}

std::size_t count(int B, int width) { return static_cast<std::size_t>(B) * width; }

// rows (B, 2Z) of a latent head's [mu | log sigma^2] become (B, Z) of mu, in
// place (row b moves from 2Zb to Zb; ascending b never overwrites unread rows).
void keep_mu(float* rows, int B, int Z) {
  for (int b = 1; b < B; ++b)
    std::memmove(rows + count(b, Z), rows + count(b, 2 * Z), sizeof(float) * Z);
}

}  // namespace

Network::Network(LayerTable table, Loss loss, OptimizerConfig optimizer, double beta)
    : table_(std::move(table)), loss_(loss), beta_(static_cast<float>(beta)), opt_(optimizer) {
  if (table_.size() < 2) throw std::invalid_argument("a network needs a layer table");
  set_beta(beta);
  for (double v : {optimizer.beta1, optimizer.beta2, optimizer.eps, optimizer.momentum})
    if (!std::isfinite(v)) throw std::invalid_argument("optimizer hyperparameters must be finite");
  opt_.set_learning_rate(optimizer.lr);  // checks it is > 0
  if (!is_valid(loss_)) throw std::invalid_argument("unknown loss code");
  if (!is_valid(optimizer.kind)) throw std::invalid_argument("unknown optimizer code");
  if (loss_ == Loss::bce && table_.layers().back().act != Activation::sigmoid)
    throw std::invalid_argument("the bce loss needs a sigmoid output layer");
  params_.resize(table_.num_params());
  grads_.resize(table_.num_params());
  opt_.allocate(table_.num_params());
}

void Network::set_beta(double beta) {
  if (!(beta >= 0.0) || !std::isfinite(static_cast<float>(beta)))
    throw std::invalid_argument("beta must be >= 0 and finite");
  std::lock_guard<std::mutex> lock(train_mutex_);
  beta_ = static_cast<float>(beta);
}

void Network::set_precision(Precision precision) {
  if (!is_valid(precision)) throw std::invalid_argument("unknown precision code");
  Bf16Path path = Bf16Path::none;
  Int8Path int8_path = Int8Path::none;
  if (precision == Precision::int8) {
    int8_path = int8_best_path();
    if (int8_path == Int8Path::none)
      throw std::runtime_error(
          "precision='int8' needs int8 dot products: AVX512-VNNI (vpdpbusd) or AMX-INT8, with "
          "the OS allowing AMX tiles; this CPU (" + std::string(simd_level()) +
          ") has neither. Use precision='fp32'.");
    for (const LayerSpec& s : table_.layers())
      if (s.d_in > kInt8MaxDepth)
        throw std::invalid_argument(
            "precision='int8' takes layers of at most " + std::to_string(kInt8MaxDepth) +
            " inputs (their int32 sums could overflow); this network has a layer of " +
            std::to_string(s.d_in) + ". Use precision='bf16' or 'fp32'.");
  }
  if (precision == Precision::bf16) {
    path = bf16_best_path();
    if (path == Bf16Path::none)
      throw std::runtime_error(
          "precision='bf16' needs bf16 dot products: AVX512-BF16 (vdpbf16ps) or AMX-BF16, with "
          "the OS allowing AMX tiles; this CPU (" + std::string(simd_level()) +
          ") has neither. Use precision='fp32'.");
  }
  std::lock_guard<std::mutex> lock(train_mutex_);
  precision_ = precision;
  gemm_path_ = path;
  inference_paths_ = static_cast<std::uint32_t>(path) | (static_cast<std::uint32_t>(int8_path) << 8);
}

void Network::set_noise(const NoiseConfig& noise, std::uint64_t seed) {
  if (!is_valid(noise.kind)) throw std::invalid_argument("unknown noise kind");
  std::lock_guard<std::mutex> lock(train_mutex_);
  noise_ = noise;
  noise_seed_ = seed;
  if (noise_.kind != NoiseKind::none && capacity_ > 0)
    clean_.resize(count(capacity_, table_.features()));
}

Activation Network::train_act(int l) const {
  return (l == table_.size() - 1 && loss_ == Loss::bce) ? Activation::identity : table_[l].act;
}

float* Network::train_out(int l) {
  return (table_.variational() && l == table_.latent_layer()) ? head_out_.data()
                                                               : acts_[l + 1].data();
}

float* Network::train_dout(int l) {
  return (table_.variational() && l == table_.latent_layer()) ? dhead_out_.data()
                                                               : dacts_[l + 1].data();
}

void Network::reserve(int max_batch) {
  std::lock_guard<std::mutex> lock(train_mutex_);
  reserve_locked(max_batch);
}

void Network::reserve_locked(int max_batch) {
  if (max_batch <= capacity_) return;
  // Until every buffer is sized, nothing is: if an allocation throws
  // (std::bad_alloc), the next step reserves afresh instead of writing into
  // the buffers this call already dropped.
  capacity_ = 0;
  const int L = table_.size();
  acts_ = std::vector<FloatBuffer>(L + 1);
  dacts_ = std::vector<FloatBuffer>(L + 1);
  pre_ = std::vector<FloatBuffer>(L);
  for (int l = 0; l <= L; ++l) {
    acts_[l].resize(count(max_batch, table_.input_width(l)));
    if (l > 0) dacts_[l].resize(count(max_batch, table_.input_width(l)));
    if (l < L && needs_preactivation(train_act(l)))
      pre_[l].resize(count(max_batch, table_[l].d_out));
  }
  if (noise_.kind != NoiseKind::none) clean_.resize(count(max_batch, table_.features()));
  if (table_.variational()) {
    const int head_width = table_[table_.latent_layer()].d_out;
    head_out_.resize(count(max_batch, head_width));
    dhead_out_.resize(count(max_batch, head_width));
    eps_.resize(count(max_batch, head_width / 2));
  }
  row_nll_.resize(max_batch);
  row_kl_.resize(max_batch);
  capacity_ = max_batch;
}

StepLosses Network::train_step(const float* data, std::int64_t n_rows,
                               const std::int64_t* batch_rows, int B, const float* eps) {
  std::lock_guard<std::mutex> lock(train_mutex_);
  StepLosses r = forward_backward(data, n_rows, batch_rows, B, eps, nullptr);
  opt_.step(params_.data(), grads_.data(), params_.size());
  ++params_version_;
  return r;
}

StepLosses Network::compute_gradients(const float* data, std::int64_t n_rows,
                                      const std::int64_t* batch_rows, int B, const float* eps,
                                      const std::int64_t* keys) {
  std::lock_guard<std::mutex> lock(train_mutex_);
  StepLosses r = forward_backward(data, n_rows, batch_rows, B, eps, keys);
  grads_dirty_ = true;
  return r;
}

void Network::apply_gradients() {
  std::lock_guard<std::mutex> lock(train_mutex_);
  opt_.step(params_.data(), grads_.data(), params_.size());
  ++params_version_;
  grads_dirty_ = false;  // the step consumed (zeroed) them
}

StepLosses Network::forward_backward(const float* data, std::int64_t n_rows,
                                     const std::int64_t* batch_rows, int B, const float* eps,
                                     const std::int64_t* keys) {
  if (B < 1) throw std::invalid_argument("empty batch");
  if (precision_ == Precision::int8)
    throw std::invalid_argument("precision='int8' is for inference only; train in fp32 or bf16");
  reserve_locked(B);
  if (grads_dirty_) {
    grads_.zero();
    grads_dirty_ = false;
  }
  const int D = table_.features();
  const bool denoising = noise_.kind != NoiseKind::none;
  // target: the clean rows; acts_[0]: the network input.
  float* target = denoising ? clean_.data() : acts_[0].data();
  gather_rows(target, data, n_rows, batch_rows, B, D);
  const auto stream = static_cast<std::uint64_t>(opt_.step_count());
  if (denoising && keys == nullptr)
    corrupt(acts_[0].data(), target, count(B, D), noise_, noise_seed_, stream, 0);
  else if (denoising)  // row by row, at each row's place in the whole batch
    for (int b = 0; b < B; ++b)
      corrupt(acts_[0].data() + count(b, D), target + count(b, D), D, noise_, noise_seed_, stream,
              static_cast<std::uint64_t>(keys[b]) * D);
  forward_train(B, eps, keys);
  StepLosses losses = loss_and_gradient(target, B);
  backward(B);
  return losses;
}

void Network::forward_train(int B, const float* eps, const std::int64_t* keys) {
  const int L = table_.size();
  const float* p = params_.data();
  for (int l = 0; l < L; ++l) {
    const LayerSpec& s = table_[l];
    dense_forward(train_out(l), acts_[l].data(), p + s.weight_offset, p + s.bias_offset,
                  dims_of(s, B, train_act(l), gemm_path_), pre_[l].size() ? pre_[l].data() : nullptr);
    if (table_.variational() && l == table_.latent_layer()) {
      // The reparameterisation stage: z = mu + exp(logvar / 2) * eps.
      const int Z = s.d_out / 2;
      if (eps != nullptr) {
        std::memcpy(eps_.data(), eps, count(B, Z) * sizeof(float));
      } else if (keys == nullptr) {
        philox_normal(eps_.data(), count(B, Z), latent_seed_,
                      static_cast<std::uint64_t>(opt_.step_count()), 0);
      } else {
        for (int b = 0; b < B; ++b)
          philox_normal(eps_.data() + count(b, Z), Z, latent_seed_,
                        static_cast<std::uint64_t>(opt_.step_count()),
                        static_cast<std::uint64_t>(keys[b]) * Z);
      }
      reparameterize_forward(acts_[l + 1].data(), head_out_.data(), eps_.data(), B, Z);
    }
  }
}

StepLosses Network::loss_and_gradient(const float* target, int B) {
  const int L = table_.size();
  const int D = table_.features();
  for (int l = 1; l <= L; ++l)
    std::memset(dacts_[l].data(), 0, sizeof(float) * count(B, table_.input_width(l)));
  const float* pred = acts_[L].data();
  float* dpred = dacts_[L].data();
  if (!table_.variational()) {
    // Mean over all B * D elements.
    double loss = loss_ == Loss::bce
                      ? bce_logits_loss_rows(dpred, row_nll_.data(), pred, target, B, D)
                      : mse_loss_rows(dpred, row_nll_.data(), pred, target, B, D);
    return StepLosses{loss, loss, 0.0};
  }
  // Per-sample NLL (summed over features) + beta * KL, mean over the batch.
  const int Z = table_[table_.latent_layer()].d_out / 2;
  std::memset(dhead_out_.data(), 0, sizeof(float) * count(B, 2 * Z));
  const float inv_b = 1.0f / static_cast<float>(B);
  double recon = reconstruction_nll_rows(dpred, row_nll_.data(), pred, target, B, D, loss_, inv_b);
  double kl = kl_rows(dhead_out_.data(), row_kl_.data(), head_out_.data(), B, Z, beta_ * inv_b);
  return StepLosses{(recon + beta_ * kl) / B, recon / B, kl / B};
}

void Network::backward(int B) {
  const int L = table_.size();
  const float* p = params_.data();
  float* g = grads_.data();
  for (int l = L - 1; l >= 0; --l) {
    const LayerSpec& s = table_[l];
    if (table_.variational() && l == table_.latent_layer()) {
      const int Z = s.d_out / 2;
      reparameterize_backward(dhead_out_.data(), dacts_[l + 1].data(), acts_[l + 1].data(),
                              head_out_.data(), B, Z);
    }
    float* dout = train_dout(l);
    dense_backward(l > 0 ? dacts_[l].data() : nullptr, g + s.weight_offset, g + s.bias_offset,
                   dout, dout, train_out(l), pre_[l].size() ? pre_[l].data() : nullptr,
                   acts_[l].data(), p + s.weight_offset, dims_of(s, B, train_act(l), gemm_path_));
  }
}

std::shared_ptr<const Network::PackedWeights> Network::packed_weights() const {
  const std::uint32_t paths = inference_paths_;
  const auto path = static_cast<Bf16Path>(paths & 0xff);
  const auto int8_path = static_cast<Int8Path>(paths >> 8);
  if (path == Bf16Path::none && int8_path == Int8Path::none) {
    static const auto fp32 =
        std::make_shared<const PackedWeights>(PackedWeights{0, Bf16Path::none, Int8Path::none, {}, {}});
    return fp32;
  }
  std::lock_guard<std::mutex> lock(pack_mutex_);
  const std::uint64_t version = params_version_;
  if (packed_ && packed_->version == version && packed_->path == path &&
      packed_->int8_path == int8_path)
    return packed_;
  auto fresh = std::make_shared<PackedWeights>();
  fresh->version = version;
  fresh->path = path;
  fresh->int8_path = int8_path;
  const float* p = params_.data();
  for (int l = 0; l < table_.size(); ++l) {
    const LayerSpec& s = table_[l];
    // Forward's op(B) is W^T (D_in, D_out): the stored (D_out, D_in) weight
    // transposed, or a tied layer's (D_in, D_out) storage as it is.
    const bool trans = s.owns_weight();
    const float* w = p + s.weight_offset;
    const int ldw = s.owns_weight() ? s.d_in : s.d_out;
    if (int8_path != Int8Path::none)
      fresh->int8_layers.push_back(std::make_unique<Int8PackedB>(trans, s.d_in, s.d_out, w, ldw));
    else
      fresh->layers.push_back(std::make_unique<Bf16PackedB>(trans, s.d_in, s.d_out, w, ldw));
  }
  packed_ = std::move(fresh);
  return packed_;
}

DenseDims Network::inference_dims(const PackedWeights* packed, int l, int B,
                                  Activation act) const {
  DenseDims d = dims_of(table_[l], B, act, packed->path);
  if (packed->int8_path != Int8Path::none) {
    d.int8 = packed->int8_layers[l].get();
    d.int8_path = packed->int8_path;
  } else if (packed->path != Bf16Path::none) {
    d.packed = packed->layers[l].get();
  }
  return d;
}

void Network::forward(const float* x, float* out, int B, int first, int last) const {
  const int L = table_.size();
  if (first < 0 || last > L || first >= last) throw std::out_of_range("bad layer range");
  if (B < 1) return;
  const int head = table_.variational() ? table_.latent_layer() : -1;
  const bool through_head = head >= first && head < last - 1;
  int widest = 0;
  for (int l = first; l < last - 1; ++l) widest = std::max(widest, table_[l].d_out);
  float* scratch[2] = {nullptr, nullptr};
  if (last - first > 1) scratch[0] = thread_scratch(kScratchA, count(B, widest));
  if (last - first > 2) scratch[1] = thread_scratch(kScratchB, count(B, widest));
  const float* p = params_.data();
  const auto packed = packed_weights();
  auto run_layers = [&](auto&& run_layer) {
    const float* cur = x;
    for (int l = first; l < last; ++l) {
      float* dst = (l == last - 1) ? out : scratch[(l - first) % 2];
      run_layer(dst, cur, table_[l], inference_dims(packed.get(), l, B, table_[l].act));
      if (l == head && l != last - 1) keep_mu(dst, B, table_[l].d_out / 2);  // continue from mu
      cur = dst;
    }
  };
  double work = 0.0;
  for (int l = first; l < last; ++l) work += static_cast<double>(B) * table_[l].d_in * table_[l].d_out;
  const int threads = threads_for_work(work);
  if (threads > 1 && B < 16 * threads && !through_head) {
    // Small batches split every layer's outputs across threads: one parallel
    // region with a barrier per layer costs far less than a region per layer.
    run_parallel(threads, [&](int thread, int nthreads) {
      run_layers([&](float* dst, const float* src, const LayerSpec& s, const DenseDims& d) {
        dense_forward_tile(dst, src, p + s.weight_offset, p + s.bias_offset, d, thread,
                           nthreads);
#pragma omp barrier
      });
    });
  } else {
    run_layers([&](float* dst, const float* src, const LayerSpec& s, const DenseDims& d) {
      dense_forward(dst, src, p + s.weight_offset, p + s.bias_offset, d);
    });
  }
}

void Network::row_losses(const float* x, const float* target, float* rows, int B,
                         int first) const {
  const int L = table_.size();
  const int D = table_.features();
  if (first < 0 || first >= L) throw std::out_of_range("bad first layer");
  if (B < 1) return;
  float* pred = thread_scratch(kScratchOut, count(B, D));
  if (train_act(L - 1) == table_[L - 1].act) {
    forward(x, pred, B, first, L);
  } else {
    // BCE needs the logits: all but the last layer, then the last one
    // without its sigmoid.
    const LayerSpec& s = table_[L - 1];
    const float* h = x;
    if (L - 1 > first) {
      // forward() ends with layer L - 2's output: (B, 2Z) when that is the
      // latent head, whose mu is the last layer's input.
      const int width = table_[L - 2].d_out;
      float* hidden = thread_scratch(kScratchHidden, count(B, width));  // (B, width)
      forward(x, hidden, B, first, L - 1);
      if (width != s.d_in) keep_mu(hidden, B, s.d_in);
      h = hidden;
    }
    const auto packed = packed_weights();
    dense_forward(pred, h, params_.data() + s.weight_offset, params_.data() + s.bias_offset,
                  inference_dims(packed.get(), L - 1, B, Activation::identity));
  }
  if (table_.variational()) {
    reconstruction_nll_rows(nullptr, rows, pred, target, B, D, loss_, 0.0f);
  } else if (loss_ == Loss::bce) {
    bce_logits_loss_rows(nullptr, rows, pred, target, B, D);
  } else {
    mse_loss_rows(nullptr, rows, pred, target, B, D);
  }
}

}  // namespace pyae
