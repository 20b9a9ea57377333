#include "runtime/parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "kernels/blas.h"

namespace pyae {

namespace {

int initial_thread_count() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::atomic<int> g_num_threads{0};  // 0 = not yet initialised

}  // namespace

void set_num_threads(int n) {
  g_num_threads = n < 1 ? 1 : n;
  omp_set_num_threads(g_num_threads);
  keep_blas_single_threaded();
}

int get_num_threads() {
  if (g_num_threads == 0) set_num_threads(initial_thread_count());
  return g_num_threads;
}

int kernel_threads() {
  // Inside a parallel region (a training step's shard) kernels run on the
  // calling thread alone: pyae never nests parallel regions.
  if (omp_in_parallel()) return 1;
  int n = get_num_threads();
  int omp_limit = omp_get_max_threads();
  return omp_limit < n ? omp_limit : n;
}

void keep_blas_single_threaded() {
  if (scipy_openblas_get_num_threads() != 1) scipy_openblas_set_num_threads(1);
}

int threads_for_work(double work) {
  // ~100k multiply-adds (~1 us of one core) per extra thread.
  const double per_thread = 1.0e5;
  int wanted = static_cast<int>(work / per_thread);
  int available = kernel_threads();
  return wanted < 1 ? 1 : (wanted < available ? wanted : available);
}

}  // namespace pyae
