"""Where a model runs, and moving arrays there.

``device="cpu"`` is the C++ core. ``device="cuda"`` is pyae._gpu: CuPy
for memory and cuBLAS, pyae's CUDA kernels from the pyae._cuda extension
or, when that is not built, compiled by NVRTC. Inputs of a CUDA model may
be NumPy arrays (copied to the GPU) or any CUDA array (CuPy, or anything
with ``__cuda_array_interface__``, used without a copy when it is already
float32 and C-contiguous); results come back on the input's side.

``PYAE_GPU_KERNELS=extension|nvrtc`` forces one source of kernels (default
"auto": the extension when built, else NVRTC).
"""

from __future__ import annotations

import os

from ._validation import (NotRealError, _raise_not_finite, as_float32_matrix,
                          feature_count_message, not_2d_message, zero_features_message)

DEVICES = ("cpu", "cuda")
_cuda_ops = None


def check_device(device) -> str:
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return device


def is_gpu_array(a) -> bool:
    return hasattr(a, "__cuda_array_interface__")


def cuda_ops():
    """The process's CudaOps (built on first use); a clear RuntimeError
    when the GPU path cannot run here."""
    global _cuda_ops
    if _cuda_ops is None:
        try:
            import cupy
        except ImportError:
            raise RuntimeError("device='cuda' needs CuPy (pip install 'pyae[gpu]'); "
                               "CuPy provides pyae's GPU memory and cuBLAS") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as e:
            raise RuntimeError(f"device='cuda' but no usable GPU: {e}") from None
        if count < 1:
            raise RuntimeError("device='cuda' but no CUDA device is visible")
        from ._gpu.ops import CudaOps

        _cuda_ops = CudaOps(os.environ.get("PYAE_GPU_KERNELS", "auto"))
    return _cuda_ops


def as_device_matrix(X, ops, name="X", n_features=None, owner=None):
    """X as a C-contiguous float32 (n, n_features) array on ops's device,
    with the same checks and messages as the CPU path."""
    if not is_gpu_array(X):
        return ops.to_device(as_float32_matrix(X, name, n_features, owner))
    xp = ops.xp
    with ops.activate():
        arr = xp.asarray(X)
        if arr.dtype.kind == "c":
            raise NotRealError(f"{name} must hold real numbers, got dtype {arr.dtype} "
                               "(Complex data not supported)")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(not_2d_message(name, arr.shape))
        if arr.shape[0] == 0:
            raise ValueError(f"{name} is empty: it has 0 samples")
        if arr.shape[1] == 0:
            raise ValueError(zero_features_message(name, arr.shape))
        if n_features is not None and arr.shape[1] != n_features:
            raise ValueError(feature_count_message(name, arr.shape[1], n_features, owner))
        arr = xp.ascontiguousarray(arr, dtype=xp.float32)
        if not bool(xp.isfinite(arr).all()):
            _raise_not_finite(ops.to_host(arr), name)
    return arr


def to_callers_side(result, X, ops):
    """A GPU result back as NumPy when the caller passed a host array."""
    return result if is_gpu_array(X) else ops.to_host(result)
