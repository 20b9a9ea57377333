"""The CUDA kernels of csrc/cuda/device_kernels.cuh, behind one interface.

The kernels are listed once, in csrc/cuda/kernel_list.h (installed in
``pyae/_kernels/cuda``). ``Kernels`` holds, for each, the launch geometry
and the typed arguments (NumPy scalars of the exact C types); a backend only
supplies ``_run(name, grid, block, args)``:

- ``ExtensionKernels``: ``pyae._cuda.launch``, which checks every argument's
  kind and size against the kernel's C++ signature before launching;
- ``NvrtcKernels``: the same source, shipped in ``pyae/_kernels``, compiled
  with NVRTC through ``cupy.RawModule`` (the fallback when the extension is
  not built);
- tests/emulated_kernels.py: the kernels run on the CPU, through the
  extension's own argument checks.

So every backend launches the same shapes with the same arguments (the same
bits). Methods take arrays (``None`` for a null pointer) and run on CuPy's
current stream.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

KERNEL_DIR = Path(__file__).resolve().parent.parent / "_kernels"
KERNEL_LIST = KERNEL_DIR / "cuda" / "kernel_list.h"
NVRTC_SOURCE = '#include "device_kernels.cuh"\n'


def kernel_source_hash(kernel_dir: Path = KERNEL_DIR) -> str:
    """SHA-256 of every shipped kernel header's text. CuPy's kernel cache
    keys on the source (one #include line) and the options, not on included
    headers: this hash, passed as a define, makes edited or upgraded headers
    compile anew instead of loading a stale binary."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(kernel_dir.rglob("*")):
        if path.suffix in (".h", ".cuh"):
            digest.update(path.relative_to(kernel_dir).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def nvrtc_options(kernel_dir: Path = KERNEL_DIR) -> tuple[str, ...]:
    """The options the NVRTC path compiles with: the floating-point contract
    of the nvcc build (no FMA contraction; denormals flushed, which CuPy
    appends as -ftz=true after any user option anyway, so both sources flush
    and give the same bits), and the headers' hash for the cache key."""
    return ("-std=c++17", "--fmad=false", "--ftz=true", f"-I{kernel_dir / 'cuda'}",
            f"-DPYAE_KERNEL_SOURCE_HASH={kernel_source_hash(kernel_dir)[:32]}")


NVRTC_OPTIONS = nvrtc_options()

THREADS = 256         # elementwise kernels
REDUCE_THREADS = 256  # PYAE_REDUCE_THREADS (device_kernels.cuh)
PHILOX_CHUNK_BLOCKS, PHILOX_CHUNK_ELEMS = 64, 256


def parse_kernel_list(text: str) -> tuple[str, ...]:
    """The names in the PYAE_CUDA_KERNELS(X) X-macro of kernel_list.h."""
    m = re.search(r"^#define\s+PYAE_CUDA_KERNELS\(X\)((?:.*\\\n)*.*)$", text, re.MULTILINE)
    if m is None:
        raise ValueError("no PYAE_CUDA_KERNELS(X) macro in the kernel list")
    return tuple(re.findall(r"\bX\(\s*(\w+)\s*,", m.group(1)))


@functools.lru_cache(maxsize=None)
def listed_kernel_names() -> tuple[str, ...]:
    """The kernels of the installed kernel_list.h (what NVRTC compiles)."""
    return parse_kernel_list(KERNEL_LIST.read_text())


def kernel_names() -> tuple[str, ...]:
    """The kernels, in the list's order: pyae._cuda's table where the
    extension is built, else the installed kernel_list.h."""
    try:
        from .. import _cuda
    except ImportError:
        return listed_kernel_names()
    return tuple(_cuda.kernel_names())


def blocks_for(n: int) -> int:
    """Grid size of a grid-stride kernel over n items: enough blocks to fill
    any current GPU, capped."""
    return max(1, min(-(-n // THREADS), 65535 * 8))


def philox_block_range(n: int, first: int) -> tuple[int, int]:
    """(first block, number of blocks) of whole Philox chunks covering
    elements first .. first + n - 1."""
    first_block = first // PHILOX_CHUNK_ELEMS * PHILOX_CHUNK_BLOCKS
    end_block = ((first + n - 1) // PHILOX_CHUNK_ELEMS + 1) * PHILOX_CHUNK_BLOCKS
    return first_block, end_block - first_block


class Kernels:
    """Every kernel of kernel_list.h as a method: its launch shape and its
    arguments, typed exactly as the C++ signature (np.int32 for int,
    np.uint64 for unsigned long long, ...). Arrays and None (null) pass
    through to the backend's ``_run``."""

    name = "abstract"

    def _run(self, name, grid, block, args):
        raise NotImplementedError

    def bias_activation(self, out, pre, bias, B, D, act):
        self._run("bias_activation", blocks_for(B * D), THREADS,
                  (out, pre, bias, np.int32(B), np.int32(D), np.int32(act)))

    def activation_grad(self, dpre, dout, out, pre, N, act):
        self._run("activation_grad", blocks_for(N), THREADS,
                  (dpre, dout, out, pre, np.uint64(N), np.int32(act)))

    def gather_rows(self, out, data, order, counters, B, D):
        self._run("gather_rows", blocks_for(B * D), THREADS,
                  (out, data, order, counters, np.int32(B), np.int32(D)))

    def noise(self, out, inp, N, kind, a, b, lo, hi, normal, seed, stream, counters, first):
        if N == 0:
            return
        first_block, n_blocks = philox_block_range(N, first)
        self._run("noise", blocks_for(n_blocks), THREADS,
                  (out, inp, np.uint64(N), np.int32(kind), np.float32(a), np.float32(b),
                   np.float32(lo), np.float32(hi), np.int32(bool(normal)), np.uint64(seed),
                   np.uint64(stream), counters, np.uint64(first), np.uint64(first_block),
                   np.uint64(n_blocks)))

    def reparameterize_forward(self, z, mu_logvar, eps, B, Z):
        self._run("reparameterize_forward", blocks_for(B * Z), THREADS,
                  (z, mu_logvar, eps, np.int32(B), np.int32(Z)))

    def reparameterize_backward(self, dmu_logvar, dz, z, mu_logvar, B, Z):
        self._run("reparameterize_backward", blocks_for(B * Z), THREADS,
                  (dmu_logvar, dz, z, mu_logvar, np.int32(B), np.int32(Z)))

    def kl(self, dmu_logvar, row_kl, mu_logvar, B, Z, grad_scale):
        self._run("kl", -(-B // THREADS), THREADS,
                  (dmu_logvar, row_kl, mu_logvar, np.int32(B), np.int32(Z),
                   np.float32(grad_scale)))

    def loss_rows(self, grad, rows, pred, target, B, D, bce, grad_scale, row_scale, row_shift):
        if B == 0:
            return
        self._run("loss_rows", B, REDUCE_THREADS,
                  (grad, rows, pred, target, np.int32(B), np.int32(D), np.int32(bool(bce)),
                   np.float32(grad_scale), np.float64(row_scale), np.float64(row_shift)))

    def accumulate(self, totals, slot, rows, B, scale):
        self._run("accumulate", 1, REDUCE_THREADS,
                  (totals, np.int32(slot), rows, np.int32(B), np.float64(scale)))

    def adam(self, params, m, v, grads, N, lr, beta1, beta2, eps, counters):
        self._run("adam", blocks_for(N), THREADS,
                  (params, m, v, grads, np.uint64(N), np.float64(lr), np.float64(beta1),
                   np.float64(beta2), np.float32(1.0 - beta1), np.float32(beta2),
                   np.float32(1.0 - beta2), np.float32(eps), counters))

    def sgd_momentum(self, params, buf, grads, N, lr, momentum):
        self._run("sgd_momentum", blocks_for(N), THREADS,
                  (params, buf, grads, np.uint64(N), np.float32(lr), np.float32(momentum)))

    def advance(self, counters, B):
        self._run("advance", 1, 1, (counters, np.int32(B)))


class ExtensionKernels(Kernels):
    """pyae._cuda.launch; CuPy arrays become device addresses."""

    name = "extension"

    def __init__(self):
        from .. import _cuda
        import cupy

        self._launch = _cuda.launch
        self._ndarray = cupy.ndarray
        self._current_stream = cupy.cuda.get_current_stream

    def _run(self, name, grid, block, args):
        nd = self._ndarray
        args = [a.data.ptr if isinstance(a, nd) else a for a in args]
        self._launch(name, grid, block, args, self._current_stream().ptr)


class NvrtcKernels(Kernels):
    """The same kernels compiled at run time by NVRTC (cupy.RawModule)."""

    name = "nvrtc"

    def __init__(self):
        import cupy

        module = cupy.RawModule(code=NVRTC_SOURCE, options=NVRTC_OPTIONS)
        # Compiled and loaded now, never during a graph capture.
        self._functions = {name: module.get_function("pyae_" + name)
                           for name in kernel_names()}

    def _run(self, name, grid, block, args):
        f = self._functions[name]
        # None -> a null pointer (an 8-byte zero); arrays pass as pointers.
        args = tuple(np.uint64(0) if a is None else a for a in args)
        f((grid,), (block,), args)


def load_kernels(prefer: str = "auto"):
    """The extension's kernels when it is built and ``prefer`` allows it,
    else the NVRTC ones. ``prefer``: "auto", "extension" or "nvrtc"."""
    if prefer not in ("auto", "extension", "nvrtc"):
        raise ValueError(f"prefer must be 'auto', 'extension' or 'nvrtc', got {prefer!r}")
    if prefer != "nvrtc":
        try:
            return ExtensionKernels()
        except ImportError:
            if prefer == "extension":
                raise
    return NvrtcKernels()
