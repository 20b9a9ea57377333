"""What subnormal floats cost this CPU, and that pyae's optimisers avoid them.

A moment whose gradient has become exactly zero decays by beta1 (or the
momentum) every step until it is subnormal (below 1.2e-38), and arithmetic
on subnormals takes a microcode assist. pyae's Adam and SGD set such a
moment to 0 instead (csrc/math/elementwise_math.h, flush_subnormal). In
one run, median of repeats, 1 thread:

- the penalty itself: NumPy's float32 multiply over subnormal inputs
  against normal inputs of the same size (the baseline: what an optimiser
  that kept subnormals would pay per operation);
- pyae's Adam over 1M parameters with zero gradients whose first moments
  start at 1e-30 (they reach the subnormal range within ~200 steps) against
  moments that start at 1e-3 (which stay normal), timed after 300 steps.

    python benchmarks/bench_subnormal.py
"""

from __future__ import annotations


import numpy as np

import pyae
from machine import cpu_model
from timing import median_time

N = 1 << 20
REPEATS = 15


def adam_after_decay(m0):
    """Seconds per Adam update once 300 zero-gradient steps have decayed m from m0."""
    p, g = np.ones(N, np.float32), np.zeros(N, np.float32)
    m, v = np.full(N, m0, np.float32), np.full(N, 1e-6, np.float32)
    step = [0]

    def update():
        step[0] += 1
        pyae.ops.adam_update(p, g, m, v, step=step[0], lr=1e-3)

    for _ in range(300):
        update()
    tiny = np.finfo(np.float32).tiny
    subnormal = int(np.count_nonzero((m != 0) & (np.abs(m) < tiny)))
    return median_time(update, REPEATS), subnormal, float(np.abs(m).max())


def main():
    pyae.set_num_threads(1)
    print(f"# {cpu_model()}; {pyae.simd_level()}; 1 thread; {N} floats, medians")
    normal = np.full(N, 1e-3, np.float32)
    sub = np.full(N, 1e-39, np.float32)  # subnormal
    out = np.empty(N, np.float32)
    t_normal = median_time(lambda: np.multiply(normal, 0.9, out=out), REPEATS)
    t_sub = median_time(lambda: np.multiply(sub, 0.9, out=out), REPEATS)
    print(f"NumPy multiply, normal inputs:    {t_normal * 1e3:8.3f} ms")
    print(f"NumPy multiply, subnormal inputs: {t_sub * 1e3:8.3f} ms   ({t_sub / t_normal:.1f}x)")
    t_flush, n_sub, m_max = adam_after_decay(1e-30)
    t_norm, _, _ = adam_after_decay(1e-3)
    print(f"pyae Adam, moments from 1e-3 (normal):           {t_norm * 1e3:8.3f} ms")
    print(f"pyae Adam, moments from 1e-30 (flushed, max {m_max:.1e}, {n_sub} subnormal): "
          f"{t_flush * 1e3:8.3f} ms   ({t_flush / t_norm:.2f}x)")


if __name__ == "__main__":
    main()
