// The neighbours anomaly score: mean Euclidean distance of each code to its
// k nearest codes of a bank (a sample of the training codes). The codes
// are float64 (exact for any input), the bank float32 (as the model keeps it).
//
// Shapes: n codes, M bank codes, Z code width.
#pragma once

#include <cstdint>

namespace pyae {

// out[i] = mean of the k smallest |codes[i] - bank[j]|; when skip_self[i]
// (row i is itself in the bank), the nearest one is left out and the next
// k are averaged. Float32 dot products (on codes and bank centred on the
// bank's mean) rank the bank; every bank row within their error bound of
// the k + 1 best is then measured exactly in float64, so the result is the
// exact search's (and a code's distance to itself is 0, not float32's
// cancellation error). Needs k + 1 <= M with skip_self, k <= M without.
void nearest_mean_distance(const double* codes,            // (n, Z)
                           const float* bank,              // (M, Z)
                           int n, int M, int Z, int k,
                           const std::uint8_t* skip_self,  // (n) or null
                           double* out);                   // (n)

}  // namespace pyae
