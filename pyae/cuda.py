"""GPU status.

``pyae.cuda_available()`` tells whether the CUDA extension can run, and why
not: "not built" (``pyae._cuda`` is missing: no CUDA compiler at build time,
or ``PYAE_CUDA=OFF``), "no device" (built, but no usable GPU or driver), or
"ready". The status is truthy only when ready.

It describes the extension. ``device="cuda"`` models also run without it,
through CuPy's NVRTC (see pyae._gpu.kernels), when CuPy and a GPU are
present.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CudaStatus", "cuda_available"]


class CudaStatus(NamedTuple):
    state: str   # "ready", "no device" or "not built"
    reason: str

    def __bool__(self):
        return self.state == "ready"


def cuda_available() -> CudaStatus:
    try:
        from . import _cuda
    except ImportError as e:
        return CudaStatus("not built", f"pyae._cuda is not built ({e}); device='cuda' "
                                       "can still run through CuPy's NVRTC")
    count, message = _cuda.device_status()
    if count < 1:
        return CudaStatus("no device", f"pyae._cuda is built, but no usable GPU: {message}")
    return CudaStatus("ready", f"{count} GPU(s); device 0: {message}")
