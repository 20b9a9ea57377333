#include "kernels/neighbours.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/blas.h"
#include "kernels/packed_sgemm.h"
#include "math/common.h"
#include "runtime/parallel.h"
#include "runtime/scratch.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#endif

namespace pyae {

namespace {

constexpr int kRowBlock = 32;  // rows per GEMM: a (32, M) float32 tile per thread, in L2

#if defined(PYAE_HAS_AVX512_PATHS)
// The start of the first block of 16 at or after `from` holding a score
// under bar; the start of the tail (fewer than 16 left) if none does.
PYAE_AVX512 int next_block_under(const float* score, int from, int end, float bar) {
  const __m512 limit = _mm512_set1_ps(bar);
  int j = from;
  for (; j + 16 <= end; j += 16)
    if (_mm512_cmp_ps_mask(_mm512_loadu_ps(score + j), limit, _CMP_LT_OQ)) return j;
  return j;
}
#endif

// The c candidates of smallest score (kept sorted, c small), one pass over
// M. On AVX-512 CPUs blocks of 16 with no score under the current c-th
// smallest (nearly all of them) are skipped after one compare.
void smallest(const float* score, int M, int c, int* idx, float* val) {  // score (M)
  int filled = 0;
  auto offer = [&](int j) {
    const float s = score[j];
    if (filled == c && !(s < val[c - 1])) return;
    int at = filled < c ? filled++ : c - 1;
    while (at > 0 && val[at - 1] > s) {  // insertion into the sorted prefix
      val[at] = val[at - 1];
      idx[at] = idx[at - 1];
      --at;
    }
    val[at] = s;
    idx[at] = j;
  };
  int j = 0;
  for (; j < M && filled < c; ++j) offer(j);
#if defined(PYAE_HAS_AVX512_PATHS)
  if (cpu_has_avx512()) {
    while (j < M) {
      const int block = next_block_under(score, j, M, val[c - 1]);
      const int stop = std::min(block + 16, M);
      for (int i = block; i < stop; ++i) offer(i);
      j = stop;
    }
  }
#endif
  for (; j < M; ++j) offer(j);
}

double exact_distance(const double* a, const float* b, int Z) {  // a, b (Z)
  double s = 0.0;
  for (int z = 0; z < Z; ++z) {
    const double d = a[z] - static_cast<double>(b[z]);
    s += d * d;
  }
  return std::sqrt(s);
}

}  // namespace

void nearest_mean_distance(const double* codes, const float* bank, int n, int M, int Z, int k,
                           const std::uint8_t* skip_self, double* out) {
  // The float32 GEMM works on codes and bank centred on the bank's mean:
  // distances do not change, and float32 then resolves them for data far
  // from the origin too (uncentred, a bank 80 from it at spreads of 1e-3
  // gave distances 42% off).
  std::vector<double> centre(Z, 0.0);
  for (int j = 0; j < M; ++j)
    for (int z = 0; z < Z; ++z) centre[z] += bank[static_cast<long long>(j) * Z + z];
  for (double& x : centre) x /= std::max(M, 1);
  std::vector<float> centred(static_cast<std::size_t>(M) * Z);
  for (int j = 0; j < M; ++j)
    for (int z = 0; z < Z; ++z)
      centred[static_cast<std::size_t>(j) * Z + z] =
          static_cast<float>(bank[static_cast<long long>(j) * Z + z] - centre[z]);
  // |a - b|^2 = |b|^2 - 2 a.b + |a|^2; |a|^2 is the same for every candidate
  // of row a, so the score |b|^2 - 2 a.b orders them.
  std::vector<float> bank_sq(M);
  double bank_norm = 0.0;  // the largest |b|
  for (int j = 0; j < M; ++j) {
    const float* b = centred.data() + static_cast<std::size_t>(j) * Z;
    float s = 0.0f;
    for (int z = 0; z < Z; ++z) s += b[z] * b[z];
    bank_sq[j] = s;
    bank_norm = std::max(bank_norm, std::sqrt(static_cast<double>(s)));
  }
  const int c = std::min(k + 1, M);
  // The bank as the GEMM's packed op(B), once for all row blocks (sgemm
  // re-packed it per block); none on CPUs without AVX-512 (sgemm then).
  std::unique_ptr<Fp32PackedB> packed;
  if (cpu_has_avx512() && M >= 1 && Z >= 1)
    packed = std::make_unique<Fp32PackedB>(true, Z, M, centred.data(), Z);
  // A float32 score is within (Z + 3) u (2 |a| |b| + |b|^2) of the exact
  // score of the float64 code (u = 2^-24: the code's rounding, the Z-term
  // dot product and |b|^2, the final sum); twice that, for margin.
  const double gamma = 2.0 * (Z + 3) * std::ldexp(1.0, -24);
  const long long blocks = (static_cast<long long>(n) + kRowBlock - 1) / kRowBlock;
  const int threads = static_cast<int>(
      std::min<long long>(blocks, threads_for_work(2.0 * n * M * Z)));
  run_parallel(std::max(threads, 1), [&](int t, int nt) {
    // Thread scratch, not fresh vectors: a new 3 MB score tile per call cost
    // more in page faults than the GEMM.
    float* score = thread_scratch(kScratchA, static_cast<std::size_t>(kRowBlock) * M);
    float* a = thread_scratch(kScratchB, static_cast<std::size_t>(kRowBlock) * Z);  // in float32
    std::vector<int> idx(c), cand;
    std::vector<float> val(c);
    std::vector<double> near;
    for (long long blk = t; blk < blocks; blk += nt) {
      const long long r0 = blk * kRowBlock;
      const int rows = static_cast<int>(std::min<long long>(kRowBlock, n - r0));
      const double* block = codes + static_cast<long long>(r0) * Z;
      for (std::size_t i = 0; i < static_cast<std::size_t>(rows) * Z; ++i)
        a[i] = static_cast<float>(block[i] - centre[i % Z]);
      // score = |b|^2 - 2 a.b (the factor is exact: where it is applied does not matter)
      const float scale =
          packed != nullptr && fp32_gemm_packed(rows, 0, M, a, Z, *packed, score, M) ? -2.0f
                                                                                       : 1.0f;
      if (scale == 1.0f)
        sgemm(false, true, rows, M, Z, -2.0f, a, Z, centred.data(), Z, 0.0f, score, M);
      for (int r = 0; r < rows; ++r) {
        float* s = score + static_cast<std::size_t>(r) * M;
        for (int j = 0; j < M; ++j) s[j] = scale * s[j] + bank_sq[j];
        smallest(s, M, c, idx.data(), val.data());
        // Every bank row whose exact score can be among the c smallest: the
        // c-th smallest float32 score plus the error bound, twice over.
        const double* row = block + static_cast<long long>(r) * Z;
        double a_norm = 0.0;
        for (int z = 0; z < Z; ++z) a_norm += (row[z] - centre[z]) * (row[z] - centre[z]);
        const double error = gamma * (2.0 * std::sqrt(a_norm) * bank_norm + bank_norm * bank_norm);
        const float limit =  // scores under it are candidates
            std::nextafter(static_cast<float>(val[c - 1] + 2.0 * error), INFINITY);
        cand.clear();
        int j = 0;
#if defined(PYAE_HAS_AVX512_PATHS)
        if (cpu_has_avx512())
          while (j < M) {
            const int from = next_block_under(s, j, M, limit);
            const int stop = std::min(from + 16, M);
            for (int i = from; i < stop; ++i)
              if (s[i] < limit) cand.push_back(i);
            j = stop;
          }
#endif
        for (; j < M; ++j)
          if (s[j] < limit) cand.push_back(j);
        if (static_cast<int>(cand.size()) < c) {  // scores past float32's range: all of them
          cand.resize(M);
          for (int i = 0; i < M; ++i) cand[i] = i;
        }
        near.resize(cand.size());
        for (std::size_t q = 0; q < cand.size(); ++q)
          near[q] = exact_distance(row, bank + static_cast<long long>(cand[q]) * Z, Z);
        std::partial_sort(near.begin(), near.begin() + c, near.end());
        const int first = (skip_self != nullptr && skip_self[r0 + r]) ? 1 : 0;
        double sum = 0.0;
        for (int q = first; q < first + k; ++q) sum += near[q];
        out[r0 + r] = sum / k;
      }
    }
  });
}

}  // namespace pyae
