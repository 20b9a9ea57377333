"""GPU noise kernel bandwidth against the card's copy bandwidth (CuPy).

Corrupts a 64M-element float32 array with Gaussian noise + clipping (read 4
bytes, write 4 bytes per element) and compares the achieved GB/s with a
device-to-device copy of the same array. Needs a GPU, pyae._cuda and CuPy.

    python benchmarks/bench_gpu_kernels.py
"""

import cupy as cp

import pyae
from pyae import _cuda


def gbps(fn, nbytes, repeats=20):
    fn()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    stop.synchronize()
    return nbytes * repeats / (cp.cuda.get_elapsed_time(start, stop) / 1e3) / 1e9


def main():
    status = pyae.cuda_available()
    if not status:
        raise SystemExit(status.reason)
    n = 64 * 2**20
    x = cp.random.random(n, dtype=cp.float32)
    out = cp.empty_like(x)
    stream = cp.cuda.get_current_stream().ptr
    copy = gbps(lambda: cp.copyto(out, x), 2 * x.nbytes)
    rows = [("device copy (CuPy)", copy)]
    for name, args in (("gaussian 0.5 + clip", (1, 0.5, 0.0, 0.0, 1.0)),
                       ("salt-and-pepper 0.2", (2, 0.2, 0.5, 0.0, 1.0)),
                       ("masking 0.3", (3, 0.3, 0.0, 0.0, 0.0))):
        rows.append((name, gbps(lambda a=args: _cuda.corrupt(out.data.ptr, x.data.ptr, n, *a, 1,
                                                             0, 0, stream), 2 * x.nbytes)))
    print(f"# {status.reason}; {n} float32 elements")
    print(f"{'kernel':<24} {'GB/s':>8} {'% of copy':>10}")
    for name, value in rows:
        print(f"{name:<24} {value:>8.0f} {100 * value / copy:>9.0f}%")


if __name__ == "__main__":
    main()
