// Gathering a mini-batch of rows for a training step.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pyae {

// dst (B, D) = data[rows[b], :] for each b; throws before writing anything
// if a row index is outside [0, n_rows).
inline void gather_rows(float* dst,                   // (B, D)
                        const float* data,            // (n_rows, D)
                        std::int64_t n_rows,
                        const std::int64_t* rows,     // (B)
                        int B, int D) {
  if (B < 1) throw std::invalid_argument("empty batch");
  for (int b = 0; b < B; ++b)
    if (rows[b] < 0 || rows[b] >= n_rows)
      throw std::out_of_range("batch row index " + std::to_string(rows[b]) +
                              " outside the data");
  for (int b = 0; b < B; ++b)
    std::memcpy(dst + static_cast<std::size_t>(b) * D, data + rows[b] * D, D * sizeof(float));
}

}  // namespace pyae
