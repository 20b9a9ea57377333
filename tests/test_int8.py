"""precision="int8" (inference only): the GEMM on each instruction path
against the NumPy emulation (integer sums are exact: the same bits), and the
model-level setting. Paths the CPU lacks are skipped with the reason."""

import copy

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref

PATHS = ["avx512_vnni", "amx"]
AVAILABLE = _core.int8_paths()
ON_EACH_PATH = pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.skipif(
        not AVAILABLE[p], reason=f"this CPU or OS does not run the {p} path "
                                 f"({pyae.cpu_features()})")) for p in PATHS])
NEEDS_INT8 = pytest.mark.skipif(_core.int8_best_path() == "none",
                                reason="this CPU has neither AVX512-VNNI nor AMX-INT8")


@ON_EACH_PATH
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (5, 7, 3), (13, 33, 17), (16, 32, 64),
                                   (20, 9, 40), (37, 70, 64), (48, 33, 31), (64, 40, 785)])
def test_gemm_matches_the_emulation_bit_for_bit(path, M, N, K):
    rng = np.random.default_rng(M * 100 + K)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a[0] = 0.0  # an all-zero row has scale 0
    np.testing.assert_array_equal(_core.int8_gemm(a, b, path), ref.int8_gemm(a, b))


@ON_EACH_PATH
def test_a_non_finite_row_gives_nan_outputs_only_there(path):
    a = np.ones((3, 20), np.float32)
    a[1, 4] = np.inf
    c = _core.int8_gemm(a, np.ones((20, 5), np.float32), path)
    assert np.isnan(c[1]).all() and np.isfinite(c[[0, 2]]).all()


@NEEDS_INT8
def test_int8_inference_is_close_to_fp32_and_training_is_refused(tmp_path):
    X = np.random.default_rng(0).random((600, 40), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(24, 8), epochs=5, verbose=False).fit(X)
    fp32_err = ((model.reconstruct(X) - X) ** 2).mean()
    q = copy.deepcopy(model).set_params(precision="int8")
    assert ((q.reconstruct(X) - X) ** 2).mean() == pytest.approx(fp32_err, rel=0.03)
    assert q.network_.gemm_path == _core.int8_best_path()
    before = q.network_.params.copy()
    with pytest.raises(ValueError, match="inference only"):
        q.partial_fit(X)
    with pytest.raises(ValueError, match="inference only"):
        q.fit(X)
    np.testing.assert_array_equal(q.network_.params, before)
    q.save(tmp_path / "q.safetensors")
    back = pyae.load(tmp_path / "q.safetensors")
    assert back.precision == "int8"
    np.testing.assert_array_equal(back.score_samples(X), q.score_samples(X))


@ON_EACH_PATH
def test_tiny_rows_quantise_to_zero_as_the_emulation(path):
    a = np.array([[1e-39, -2e-40, 0.0, 5e-39], [1.0, -0.5, 0.25, 0.0]], np.float32)
    b = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    got = _core.int8_gemm(a, b, path)
    np.testing.assert_array_equal(got, ref.int8_gemm(a, b))
    np.testing.assert_array_equal(got[0], 0.0)


@NEEDS_INT8
def test_layers_too_deep_for_int32_sums_are_refused():
    X = np.random.default_rng(0).random((4, 66001), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(2,), epochs=1, verbose=False).fit(X)
    model.set_params(precision="int8")
    with pytest.raises(ValueError, match="at most 66000 inputs"):
        model.transform(X)
    np.testing.assert_array_equal(model.set_params(precision="fp32").transform(X),
                                  model.transform(X))
