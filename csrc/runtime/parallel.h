// Threading for pyae's kernels.
//
// One setting (set_num_threads) drives all of pyae's parallelism, GEMMs
// included: each OpenMP thread takes a tile, calls OpenBLAS on it in its own
// thread, then runs the epilogue while the tile is still in cache. The
// OpenBLAS pyae bundles is private to pyae, so its own pthread pool is kept
// at one thread: two pools on the same cores would only fight.
// Tiles depend only on the problem shape and the thread count, so results
// are bitwise reproducible for a given thread count.
#pragma once

#include <algorithm>

namespace pyae {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

// Threads a kernel may use now: the pyae setting, further limited by the
// calling thread's OpenMP limit (which threadpoolctl lowers).
int kernel_threads();

// Keeps the bundled OpenBLAS single-threaded (threadpoolctl may raise it).
void keep_blas_single_threaded();

// Threads worth using for `work` multiply-adds: small problems stay serial
// because waking a thread costs more than it saves.
int threads_for_work(double work);

// [begin, end) of part `i` of `parts` over [0, n), boundaries rounded to
// multiples of `align` (keeps column tiles 64-byte aligned).
inline void split_range(int n, int parts, int i, int align, int* begin, int* end) {
  int chunks = (n + align - 1) / align;
  int b = static_cast<int>(static_cast<long long>(chunks) * i / parts) * align;
  int e = static_cast<int>(static_cast<long long>(chunks) * (i + 1) / parts) * align;
  *begin = std::min(b, n);
  *end = std::min(e, n);
}

// Runs body(thread_index, thread_count) on up to `threads` OpenMP threads.
template <class Body>
void run_parallel(int threads, Body&& body);

}  // namespace pyae

#include "runtime/parallel_impl.h"
