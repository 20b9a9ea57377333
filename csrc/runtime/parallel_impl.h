// Template body of run_parallel (kept apart so parallel.h reads as an API).
#pragma once

#include <omp.h>

namespace pyae {

template <class Body>
void run_parallel(int threads, Body&& body) {
  keep_blas_single_threaded();
  if (threads <= 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  body(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace pyae
