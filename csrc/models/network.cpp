#include "models/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "kernels/batch.h"
#include "kernels/dense.h"
#include "kernels/latent.h"
#include "kernels/loss.h"
#include "kernels/small_gemm.h"
#include "models/network_detail.h"
#include "runtime/parallel.h"
#include "runtime/scratch.h"

namespace pyae {

using namespace network_detail;

namespace {

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
  if (optimizer.kind == OptimizerKind::adam && !(static_cast<float>(optimizer.eps) > 0.0f))
    throw std::invalid_argument("eps must be a positive float32 (at least 1.4e-45): the update "
                                "divides by it");
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
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  beta_ = static_cast<float>(beta);
}

void Network::set_precision(Precision precision) {
  if (!is_valid(precision)) throw std::invalid_argument("unknown precision code");
  Bf16Path path = Bf16Path::none;
  Int8Path int8_path = Int8Path::none;
  // A precision this CPU has no dot products for: which it needed.
  auto missing = [](const char* precision, const char* instructions) {
    return std::runtime_error("precision='" + std::string(precision) + "' needs " + precision +
                              " dot products: " + instructions +
                              ", with the OS allowing AMX tiles; this CPU (" + simd_level() +
                              ") has neither. Use precision='fp32'.");
  };
  if (precision == Precision::int8) {
    int8_path = int8_best_path();
    if (int8_path == Int8Path::none) throw missing("int8", "AVX512-VNNI (vpdpbusd) or AMX-INT8");
    for (const LayerSpec& s : table_.layers())
      if (s.d_in > kInt8MaxDepth)
        throw std::invalid_argument(
            "precision='int8' takes layers of at most " + std::to_string(kInt8MaxDepth) +
            " inputs (their int32 sums could overflow); this network has a layer of " +
            std::to_string(s.d_in) + ". Use precision='bf16' or 'fp32'.");
  }
  if (precision == Precision::bf16) {
    path = bf16_best_path();
    if (path == Bf16Path::none) throw missing("bf16", "AVX512-BF16 (vdpbf16ps) or AMX-BF16");
  }
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  precision_ = precision;
  inference_paths_ =
      static_cast<std::uint32_t>(path) | (static_cast<std::uint32_t>(int8_path) << 8);
}

void Network::set_noise(const NoiseConfig& noise, std::uint64_t seed) {
  if (!is_valid(noise.kind)) throw std::invalid_argument("unknown noise kind");
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  noise_ = noise;
  noise_seed_ = seed;
  for (Workspace& w : work_)
    if (noise_.kind != NoiseKind::none && w.capacity > 0)
      w.clean.resize(count(w.capacity, table_.features()));
}

Activation Network::train_act(int l) const {
  return (l == table_.size() - 1 && loss_ == Loss::bce) ? Activation::identity : table_[l].act;
}

float* Network::train_out(Workspace& w, int l) {
  return (table_.variational() && l == table_.latent_layer()) ? w.head_out.data()
                                                               : w.acts[l + 1].data();
}

float* Network::train_dout(Workspace& w, int l) {
  return (table_.variational() && l == table_.latent_layer()) ? w.dhead_out.data()
                                                               : w.dacts[l + 1].data();
}

void Network::reserve(int max_batch) {
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  if (work_.empty()) work_.resize(1);
  reserve_locked(work_[0], max_batch);
}

void Network::reserve_locked(Workspace& w, int max_batch) {
  if (max_batch <= w.capacity) return;
  // Until every buffer is sized, nothing is: if an allocation throws
  // (std::bad_alloc), the next step reserves afresh instead of writing into
  // the buffers this call already dropped.
  w.capacity = 0;
  const int L = table_.size();
  w.acts = std::vector<FloatBuffer>(L + 1);
  w.dacts = std::vector<FloatBuffer>(L + 1);
  w.pre = std::vector<FloatBuffer>(L);
  for (int l = 0; l <= L; ++l) {
    w.acts[l].resize(count(max_batch, table_.input_width(l)));
    if (l > 0) w.dacts[l].resize(count(max_batch, table_.input_width(l)));
    if (l < L && needs_preactivation(train_act(l)))
      w.pre[l].resize(count(max_batch, table_[l].d_out));
  }
  if (noise_.kind != NoiseKind::none) w.clean.resize(count(max_batch, table_.features()));
  if (table_.variational()) {
    const int head_width = table_[table_.latent_layer()].d_out;
    w.head_out.resize(count(max_batch, head_width));
    w.dhead_out.resize(count(max_batch, head_width));
    w.eps.resize(count(max_batch, head_width / 2));
  }
  w.row_nll.resize(max_batch);
  w.row_kl.resize(max_batch);
  w.capacity = max_batch;
}

namespace {

// Threads that share one training step's batch: each shard keeps at least
// kMinShardRows rows, below which one core's GEMMs lose more to the small
// tile than the second core gains.
constexpr int kMinShardRows = 64;

int shard_count(int B) {
  const int T = kernel_threads();
  return std::max(1, std::min(T, B / kMinShardRows));
}

// The smallest network (forward multiply-adds per sample) split by columns
// under StepSplit::automatic (see splits_columns).
constexpr double kColumnSplitMinMacs = 25000.0;

}  // namespace

void Network::set_step_split(StepSplit split) {
  if (split != StepSplit::automatic && split != StepSplit::rows && split != StepSplit::columns)
    throw std::invalid_argument("unknown step split");
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  split_ = split;
}

bool Network::splits_columns(int B, int threads) const {
  if (threads < 2 || split_ == StepSplit::rows) return false;
  double macs = 0.0;  // per sample, forward
  for (const LayerSpec& s : table_.layers()) {
    if (!s.owns_weight()) return false;
    macs += static_cast<double>(s.d_in) * s.d_out;
  }
  // automatic: columns where shards of kMinShardRows would leave threads
  // idle, on networks of at least kColumnSplitMinMacs. Measured on 2 cores
  // (benchmarks/bench_step_split.py, fp32 and bf16): 784-256-64-256-784
  // columns / rows 1.03-1.43x at batch 16-64, 0.87-1.05x at 128 and
  // 0.62-1.01x at 256-1024 (every thread converts the whole batch's
  // activations for its GEMMs, a shard only its own rows); the
  // 784-400-(20)-400-784 VAE 1.03-1.44x at 16-64, 0.92-1.07x at 128. Smaller
  // networks (fp32, Adam, train_step loops): 784-64-784 1.04-1.43x at batch
  // 1-64, 200-64-16-64-200 (27.6k MACs) 0.90x at batch 1-4 and 1.15-1.39x
  // at 16-64, 60-48-12-48-60 (6.9k) 0.47-0.68x: its barriers cost more
  // than its layers.
  return split_ == StepSplit::columns ||
         (shard_count(B) < threads && macs >= kColumnSplitMinMacs);
}

StepLosses Network::train_step(const float* data, std::int64_t n_rows,
                               const std::int64_t* batch_rows, int B, const float* eps) {
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  if (work_.empty()) work_.resize(1);
  const int threads = kernel_threads(), T = shard_count(B);
  StepLosses r;
  if (splits_columns(B, threads)) {
    r = column_step(data, n_rows, batch_rows, B, eps, threads);
  } else if (T > 1) {
    r = sharded_step(data, n_rows, batch_rows, B, eps, T);
  } else {
    r = forward_backward(work_[0], grads_.data(), data, n_rows, batch_rows, B, eps, nullptr);
    opt_.step(params_.data(), GradientParts(grads_.data()), params_.size());
  }
  ++params_version_;
  return r;
}

StepLosses Network::sharded_step(const float* data, std::int64_t n_rows,
                                 const std::int64_t* batch_rows, int B, const float* eps, int T) {
  begin_gradient();  // what can throw happens here, before the parallel region
  if (static_cast<int>(work_.size()) < T) work_.resize(T);
  std::vector<int> first(T + 1);
  for (int t = 0; t <= T; ++t) first[t] = static_cast<int>(static_cast<long long>(B) * t / T);
  std::vector<float*> parts(T);
  for (int t = 0; t < T; ++t) {
    reserve_locked(work_[t], first[t + 1] - first[t]);
    if (t > 0 && work_[t].grads.size() != grads_.size()) work_[t].grads.resize(grads_.size());
    parts[t] = t == 0 ? grads_.data() : work_[t].grads.data();
  }
  for (int b = 0; b < B; ++b)  // gather_rows' check, made here: nothing may throw inside
    if (batch_rows[b] < 0 || batch_rows[b] >= n_rows)
      throw std::out_of_range("batch row index " + std::to_string(batch_rows[b]) +
                              " outside the data");
  const int Z = table_.variational() ? table_[table_.latent_layer()].d_out / 2 : 0;
  const std::uint64_t version = params_version_;  // before the packs are made
  const StepPacks* packs = pack_for_step(T);
  const bool update_here = updates_in_step();
  std::vector<float> share(T);
  for (int t = 0; t < T; ++t) share[t] = static_cast<float>(first[t + 1] - first[t]) / B;
  // The step's gradient is the sum over shards of share * shard gradient; the
  // optimiser sums it as it reads the shards and zeroes them for the next step.
  const GradientParts grads{parts.data(), share.data(), T};
  const long long step = opt_.step_count() + 1;
  std::vector<StepLosses> losses(T);
  std::vector<std::exception_ptr> errors(T);
  run_parallel(T, [&](int thread, int nthreads) {
    for (int t = thread; t < T; t += nthreads) {  // any thread count the runtime grants
      const int r0 = first[t], rows = first[t + 1] - first[t];
      try {
        if (packs != nullptr && packs->use_fp32) repack_fp32(work_[t]);
        losses[t] = forward_backward(work_[t], parts[t], data, n_rows, batch_rows + r0, rows,
                                     eps == nullptr ? nullptr : eps + count(r0, Z), nullptr, r0,
                                     packs);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    }
    if (!update_here) return;
#pragma omp barrier
    for (const std::exception_ptr& e : errors)
      if (e) return;  // no thread updates after a failed shard
    update_and_repack(grads, thread, nthreads, step);
  });
  for (const std::exception_ptr& e : errors)
    if (e) {  // no half-summed gradient survives a failed step
      for (float* g : parts) std::memset(g, 0, grads_.size() * sizeof(float));
      std::rethrow_exception(e);
    }
  if (update_here) {
    opt_.set_step_count(step);
    // train_step moves the version next. Parameters marked changed during
    // the step (another Python thread) leave the packs to be made afresh.
    step_packs_.bf16_version = params_version_ == version ? version + 1 : 0;
  } else {
    opt_.step(params_.data(), grads, params_.size());
  }
  StepLosses total{0.0, 0.0, 0.0};
  for (int t = 0; t < T; ++t) {
    total.loss += share[t] * losses[t].loss;
    total.reconstruction += share[t] * losses[t].reconstruction;
    total.kl += share[t] * losses[t].kl;
  }
  return total;
}

void Network::begin_gradient() {
  if (precision_ == Precision::int8)
    throw std::invalid_argument("precision='int8' is for inference only; train in fp32 or bf16");
  if (grads_dirty_) {
    grads_.zero();
    grads_dirty_ = false;
  }
}

StepLosses Network::compute_gradients(const float* data, std::int64_t n_rows,
                                      const std::int64_t* batch_rows, int B, const float* eps,
                                      const std::int64_t* keys) {
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  if (work_.empty()) work_.resize(1);
  StepLosses r = forward_backward(work_[0], grads_.data(), data, n_rows, batch_rows, B, eps, keys);
  grads_dirty_ = true;
  return r;
}

void Network::apply_gradients() {
  std::lock_guard<std::shared_mutex> lock(train_mutex_);
  opt_.step(params_.data(), GradientParts(grads_.data()), params_.size());
  ++params_version_;
  grads_dirty_ = false;  // the step consumed (zeroed) them
}

StepLosses Network::forward_backward(Workspace& w, float* grads, const float* data,
                                     std::int64_t n_rows, const std::int64_t* batch_rows, int B,
                                     const float* eps, const std::int64_t* keys,
                                     std::int64_t first_key, const StepPacks* packs) {
  if (B < 1) throw std::invalid_argument("empty batch");
  begin_gradient();
  reserve_locked(w, B);
  const int D = table_.features();
  const bool denoising = noise_.kind != NoiseKind::none;
  // target: the clean rows; acts[0]: the network input.
  float* target = denoising ? w.clean.data() : w.acts[0].data();
  gather_rows(target, data, n_rows, batch_rows, B, D);
  const auto stream = static_cast<std::uint64_t>(opt_.step_count());
  if (denoising && keys == nullptr)
    corrupt(w.acts[0].data(), target, count(B, D), noise_, noise_seed_, stream,
            static_cast<std::uint64_t>(first_key) * D);
  else if (denoising)  // row by row, at each row's place in the whole batch
    for (int b = 0; b < B; ++b)
      corrupt(w.acts[0].data() + count(b, D), target + count(b, D), D, noise_, noise_seed_, stream,
              static_cast<std::uint64_t>(keys[b]) * D);
  forward_train(w, B, eps, keys, first_key, packs);
  StepLosses losses = loss_and_gradient(w, target, B);
  backward(w, grads, B, packs);
  return losses;
}

void Network::repack_fp32(Workspace& w) const {
  const float* p = params_.data();
  for (int l = 0; l < table_.size(); ++l) {
    const LayerSpec& s = table_[l];
    Fp32PackedB& pack = *w.fp32_packs[l];
    pack.repack(forward_trans(s), p + s.weight_offset, weight_ld(s), 0, pack.panels());
  }
}

void Network::allocate_step_packs(int fp32_sets, bool dinp) {
  StepPacks& packs = step_packs_;
  packs.use_bf16 = gemm_path() != Bf16Path::none;
  packs.use_fp32 = !packs.use_bf16 && cpu_has_avx512();
  const int L = table_.size();
  const float* p = params_.data();
  for (int t = 0; packs.use_fp32 && t < fp32_sets; ++t)
    if (work_[t].fp32_packs.empty()) {
      std::vector<std::unique_ptr<Fp32PackedB>> made;
      for (int l = 0; l < L; ++l) {
        const LayerSpec& s = table_[l];
        made.push_back(std::make_unique<Fp32PackedB>(forward_trans(s), s.d_in, s.d_out,
                                                     p + s.weight_offset, weight_ld(s)));
      }
      work_[t].fp32_packs = std::move(made);
    }
  if (packs.use_bf16 && packs.bf16.empty()) {
    std::vector<std::unique_ptr<Bf16PackedB>> made;
    for (int l = 0; l < L; ++l) {
      const LayerSpec& s = table_[l];
      made.push_back(std::make_unique<Bf16PackedB>(forward_trans(s), s.d_in, s.d_out,
                                                   p + s.weight_offset, weight_ld(s)));
    }
    packs.bf16 = std::move(made);
  }
  if (packs.use_bf16 && dinp && packs.bf16_dinp.empty()) {
    std::vector<std::unique_ptr<Bf16PackedB>> made(L);  // layer 0 has no input gradient
    for (int l = 1; l < L; ++l) {
      const LayerSpec& s = table_[l];
      made[l] = std::make_unique<Bf16PackedB>(!forward_trans(s), s.d_out, s.d_in,
                                              p + s.weight_offset, weight_ld(s));
    }
    packs.bf16_dinp = std::move(made);
  }
}

bool Network::updates_in_step() const {
  if (!step_packs_.use_bf16) return false;
  for (const LayerSpec& s : table_.layers())
    if (!s.owns_weight()) return false;
  return true;
}

void Network::update_and_repack(const GradientParts& grads, int t, int n, long long step) {
  float* p = params_.data();
  for (int l = 0; l < table_.size(); ++l) {
    const LayerSpec& s = table_[l];
    int c0, c1;  // this thread's rows of the (untied) weight
    column_strip(s.d_out, n, t, &c0, &c1);
    if (c1 <= c0) continue;
    opt_.update_range(p, grads, s.weight_offset + count(c0, s.d_in),
                      s.weight_offset + count(c1, s.d_in), step);
    opt_.update_range(p, grads, s.bias_offset + c0, s.bias_offset + c1, step);
    step_packs_.bf16[l]->repack(forward_trans(s), p + s.weight_offset, weight_ld(s),
                                c0 / kBf16PanelWidth, (c1 + kBf16PanelWidth - 1) / kBf16PanelWidth);
    if (l > 0) step_packs_.bf16_dinp[l]->repack_rows(p + s.weight_offset, weight_ld(s), c0, c1);
  }
}

const Network::StepPacks* Network::pack_for_step(int T) {
  allocate_step_packs(T, true);
  StepPacks& packs = step_packs_;
  if (!packs.use_bf16 && !packs.use_fp32) return nullptr;
  const int L = table_.size();
  const float* p = params_.data();
  if (!packs.use_bf16 || packs.bf16_version == params_version_) return &packs;
  run_parallel(T, [&](int thread, int threads) {
    auto share = [&](auto& pack, bool trans, const LayerSpec& s) {
      const int P = pack.panels();
      pack.repack(trans, p + s.weight_offset, weight_ld(s), P * thread / threads,
                  P * (thread + 1) / threads);
    };
    for (int l = 0; l < L; ++l) {
      const LayerSpec& s = table_[l];
      share(*packs.bf16[l], forward_trans(s), s);
      if (l > 0) share(*packs.bf16_dinp[l], !forward_trans(s), s);
    }
  });
  return &packs;
}

void Network::forward_train(Workspace& w, int B, const float* eps, const std::int64_t* keys,
                            std::int64_t first_key, const StepPacks* packs) {
  const int L = table_.size();
  const float* p = params_.data();
  for (int l = 0; l < L; ++l) {
    const LayerSpec& s = table_[l];
    DenseDims d = dims_of(s, B, train_act(l), gemm_path());
    if (packs != nullptr && packs->use_fp32) d.fp32 = w.fp32_packs[l].get();
    if (packs != nullptr && packs->use_bf16) d.packed = packs->bf16[l].get();
    dense_forward(train_out(w, l), w.acts[l].data(), p + s.weight_offset, p + s.bias_offset, d,
                  w.pre[l].size() ? w.pre[l].data() : nullptr);
    if (table_.variational() && l == table_.latent_layer()) {
      sample_latent(w, l, B, eps, keys, first_key);
    }
  }
}

void Network::sample_latent(Workspace& w, int l, int B, const float* eps,
                            const std::int64_t* keys, std::int64_t first_key) {
  const int Z = table_[l].d_out / 2;
  if (eps != nullptr) {
    std::memcpy(w.eps.data(), eps, count(B, Z) * sizeof(float));
  } else if (keys == nullptr) {
    philox_normal(w.eps.data(), count(B, Z), latent_seed_,
                  static_cast<std::uint64_t>(opt_.step_count()),
                  static_cast<std::uint64_t>(first_key) * Z);
  } else {
    for (int b = 0; b < B; ++b)
      philox_normal(w.eps.data() + count(b, Z), Z, latent_seed_,
                    static_cast<std::uint64_t>(opt_.step_count()),
                    static_cast<std::uint64_t>(keys[b]) * Z);
  }
  reparameterize_forward(w.acts[l + 1].data(), w.head_out.data(), w.eps.data(), B, Z);
}

double Network::kl_term(Workspace& w, int B) {
  const int Z = table_[table_.latent_layer()].d_out / 2;
  std::memset(w.dhead_out.data(), 0, sizeof(float) * count(B, 2 * Z));
  const float inv_b = 1.0f / static_cast<float>(B);
  return kl_rows(w.dhead_out.data(), w.row_kl.data(), w.head_out.data(), B, Z, beta_ * inv_b);
}

StepLosses Network::loss_and_gradient(Workspace& w, const float* target, int B) {
  const int L = table_.size();
  const int D = table_.features();
  for (int l = 1; l <= L; ++l)
    std::memset(w.dacts[l].data(), 0, sizeof(float) * count(B, table_.input_width(l)));
  const float* pred = w.acts[L].data();
  float* dpred = w.dacts[L].data();
  if (!table_.variational()) {
    // Mean over all B * D elements.
    double loss = loss_ == Loss::bce
                      ? bce_logits_loss_rows(dpred, w.row_nll.data(), pred, target, B, D)
                      : mse_loss_rows(dpred, w.row_nll.data(), pred, target, B, D);
    return StepLosses{loss, loss, 0.0};
  }
  // Per-sample NLL (summed over features) + beta * KL, mean over the batch.
  const float inv_b = 1.0f / static_cast<float>(B);
  double recon =
      reconstruction_nll_rows(dpred, w.row_nll.data(), pred, target, B, D, loss_, inv_b);
  double kl = kl_term(w, B);
  return StepLosses{(recon + beta_ * kl) / B, recon / B, kl / B};
}

void Network::backward(Workspace& w, float* g, int B, const StepPacks* packs) {
  const int L = table_.size();
  const float* p = params_.data();
  for (int l = L - 1; l >= 0; --l) {
    const LayerSpec& s = table_[l];
    if (table_.variational() && l == table_.latent_layer()) {
      const int Z = s.d_out / 2;
      reparameterize_backward(w.dhead_out.data(), w.dacts[l + 1].data(), w.acts[l + 1].data(),
                              w.head_out.data(), B, Z);
    }
    float* dout = train_dout(w, l);
    DenseDims d = dims_of(s, B, train_act(l), gemm_path());
    if (packs != nullptr && packs->use_bf16) d.packed_dinp = packs->bf16_dinp[l].get();  // l > 0
    dense_backward(l > 0 ? w.dacts[l].data() : nullptr, g + s.weight_offset, g + s.bias_offset,
                   dout, dout, train_out(w, l), w.pre[l].size() ? w.pre[l].data() : nullptr,
                   w.acts[l].data(), p + s.weight_offset, d);
  }
}

std::shared_ptr<const Network::PackedWeights> Network::packed_weights(int B) const {
  const std::uint32_t paths = inference_paths_;
  const auto path = static_cast<Bf16Path>(paths & 0xff);
  const auto int8_path = static_cast<Int8Path>(paths >> 8);
  if (path == Bf16Path::none && int8_path == Int8Path::none &&
      (B <= kSmallGemmMaxRows || !cpu_has_avx512())) {
    static const auto unpacked = std::make_shared<const PackedWeights>(
        PackedWeights{0, Bf16Path::none, Int8Path::none, {}, {}, {}});
    return unpacked;
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
    else if (path != Bf16Path::none)
      fresh->bf16_layers.push_back(std::make_unique<Bf16PackedB>(trans, s.d_in, s.d_out, w, ldw));
    else
      fresh->fp32_layers.push_back(std::make_unique<Fp32PackedB>(trans, s.d_in, s.d_out, w, ldw));
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
    d.packed = packed->bf16_layers[l].get();
  } else if (!packed->fp32_layers.empty()) {
    d.fp32 = packed->fp32_layers[l].get();
  }
  return d;
}

void Network::forward(const float* x, float* out, int B, int first, int last) const {
  std::shared_lock lock(train_mutex_);
  forward_locked(x, out, B, first, last);
}

void Network::forward_locked(const float* x, float* out, int B, int first, int last) const {
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
  const auto packed = packed_weights(B);
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
  std::shared_lock lock(train_mutex_);
  const int L = table_.size();
  const int D = table_.features();
  if (first < 0 || first >= L) throw std::out_of_range("bad first layer");
  if (B < 1) return;
  float* pred = thread_scratch(kScratchOut, count(B, D));
  if (train_act(L - 1) == table_[L - 1].act) {
    forward_locked(x, pred, B, first, L);
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
      forward_locked(x, hidden, B, first, L - 1);
      if (width != s.d_in) keep_mu(hidden, B, s.d_in);
      h = hidden;
    }
    const auto packed = packed_weights(B);
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
