#include "kernels/neighbours.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/blas.h"
#include "runtime/parallel.h"

namespace pyae {

namespace {

constexpr int kRowBlock = 128;  // rows per GEMM: a (128, M) float32 tile per thread

// The c candidates of smallest score (kept sorted, c small), one pass over M.
void smallest(const float* score, int M, int c, int* idx, float* val) {  // score (M)
  int filled = 0;
  for (int j = 0; j < M; ++j) {
    const float s = score[j];
    if (filled == c && !(s < val[c - 1])) continue;
    int at = filled < c ? filled++ : c - 1;
    while (at > 0 && val[at - 1] > s) {  // insertion into the sorted prefix
      val[at] = val[at - 1];
      idx[at] = idx[at - 1];
      --at;
    }
    val[at] = s;
    idx[at] = j;
  }
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
  // |a - b|^2 = |b|^2 - 2 a.b + |a|^2; |a|^2 is the same for every candidate
  // of row a, so |b|^2 - 2 a.b orders them.
  std::vector<float> bank_sq(M);
  for (int j = 0; j < M; ++j) {
    const float* b = bank + static_cast<long long>(j) * Z;
    float s = 0.0f;
    for (int z = 0; z < Z; ++z) s += b[z] * b[z];
    bank_sq[j] = s;
  }
  const int c = std::min(k + 1, M);
  const long long blocks = (static_cast<long long>(n) + kRowBlock - 1) / kRowBlock;
  const int threads = static_cast<int>(
      std::min<long long>(blocks, threads_for_work(2.0 * n * M * Z)));
  run_parallel(std::max(threads, 1), [&](int t, int nt) {
    std::vector<float> score(static_cast<std::size_t>(kRowBlock) * M);
    std::vector<float> a(static_cast<std::size_t>(kRowBlock) * Z);  // the block in float32
    std::vector<int> idx(c);
    std::vector<float> val(c);
    std::vector<double> near(c);
    for (long long blk = t; blk < blocks; blk += nt) {
      const long long r0 = blk * kRowBlock;
      const int rows = static_cast<int>(std::min<long long>(kRowBlock, n - r0));
      const double* block = codes + static_cast<long long>(r0) * Z;
      for (std::size_t i = 0; i < static_cast<std::size_t>(rows) * Z; ++i)
        a[i] = static_cast<float>(block[i]);
      sgemm(false, true, rows, M, Z, -2.0f, a.data(), Z, bank, Z, 0.0f, score.data(), M);
      for (int r = 0; r < rows; ++r) {
        float* s = score.data() + static_cast<std::size_t>(r) * M;
        for (int j = 0; j < M; ++j) s[j] += bank_sq[j];
        smallest(s, M, c, idx.data(), val.data());
        const double* row = block + static_cast<long long>(r) * Z;
        for (int q = 0; q < c; ++q)
          near[q] = exact_distance(row, bank + static_cast<long long>(idx[q]) * Z, Z);
        std::sort(near.begin(), near.end());
        const int first = (skip_self != nullptr && skip_self[r0 + r]) ? 1 : 0;
        double sum = 0.0;
        for (int q = first; q < first + k; ++q) sum += near[q];
        out[r0 + r] = sum / k;
      }
    }
  });
}

}  // namespace pyae
