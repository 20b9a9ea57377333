import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def data_dir():
    """The shared datasets folder; tests that need it skip when unset."""
    value = os.environ.get("PYAE_DATA_DIR")
    if not value:
        pytest.skip("PYAE_DATA_DIR is not set (point it at the datasets folder)")
    path = Path(value)
    if not (path / "mnist").is_dir():
        pytest.skip(f"PYAE_DATA_DIR={value} has no mnist/ folder")
    return path


@pytest.fixture
def threads():
    """Restores pyae's thread count after a test changes it."""
    import pyae

    before = pyae.get_num_threads()
    yield
    pyae.set_num_threads(before)
