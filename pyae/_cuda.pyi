# Type stubs for the private CUDA module (csrc/cuda/bind_cuda.cpp).
from collections.abc import Sequence

import numpy as np

def device_status() -> tuple[int, str]: ...
def kernel_names() -> tuple[str, ...]: ...
def launch(name: str, grid: int, block: int, args: Sequence[int | None | np.generic],
           stream: int = 0) -> None:
    """pyae_<name> on grid x block threads on a cudaStream_t (address). Each
    argument is None or an int device address for a pointer parameter, else a
    NumPy scalar of exactly the parameter's type (checked: TypeError)."""
