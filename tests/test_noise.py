"""Noise kernels: the generator against known answers and its reference,
exactness with injected randomness, reproducibility, and distributions."""

import numpy as np
import pytest
from scipy import stats

import pyae
from pyae import _core, _reference as ref
from pyae.noise import Gaussian, Masking, SaltAndPepper

KAT = [  # Random123 tests/kat_vectors, philox4x32 10: counter, key, output
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,want", KAT)
def test_philox_known_answers(counter, key, want):
    assert _core.philox4x32_10(*counter, *key) == want
    got = ref.philox4x32_10([[c] for c in counter], [[k] for k in key])
    assert tuple(int(w[0]) for w in got) == want


def draws(n, normal, seed=7, stream=3, first=0):
    out = np.empty(n, np.float32)
    _core.philox_draws(out, normal, seed, stream, first)
    return out


def test_vector_philox_is_used_and_matches_the_portable_one():
    with open("/proc/cpuinfo") as f:
        has_avx512 = all(f" {flag} " in f.read() for flag in ("avx512f",))
    if has_avx512:
        assert _core.philox_path() == "avx512"  # the fast path is the one that runs
    fast = draws(100_003, False, first=77), draws(100_003, True, first=77)
    _core.force_portable_philox(True)
    try:
        assert _core.philox_path() == "portable"
        slow = draws(100_003, False, first=77), draws(100_003, True, first=77)
    finally:
        _core.force_portable_philox(False)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


@pytest.mark.parametrize("first", [0, 1, 5, 255, 256, 1001, 2**40 + 3])
def test_uniforms_match_reference_exactly(first):
    got = draws(1000, False, first=first)
    np.testing.assert_array_equal(got, ref.philox_uniform(1000, 7, 3, first).astype(np.float32))


@pytest.mark.parametrize("first", [0, 3, 257])
def test_normals_match_reference(first):
    got = draws(5000, True, first=first)
    want = ref.philox_normal(5000, 7, 3, first)
    # float32 log/sqrt/sin/cos against float64: a few float32 ulps.
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("normal", [False, True])
def test_any_split_and_thread_count_gives_identical_bits(normal, threads):
    whole = draws(100_003, normal)
    for t in (1, 2, 3):
        pyae.set_num_threads(t)
        np.testing.assert_array_equal(draws(100_003, normal), whole)
        parts = [draws(b - a, normal, first=a) for a, b in
                 ((0, 1), (1, 777), (777, 50_000), (50_000, 100_003))]
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_streams_and_seeds_are_independent():
    a, b, c = draws(200_000, True), draws(200_000, True, stream=4), draws(200_000, True, seed=8)
    for x, y in ((a, b), (a, c), (b, c)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.01
        assert stats.ks_2samp(x, y).pvalue > 1e-4


def test_normal_distribution():
    x = draws(1_000_000, True).astype(np.float64)
    assert abs(x.mean()) < 5 * 1 / 1000  # 5 standard errors
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / 1e6)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    assert abs(stats.skew(x)) < 0.02 and abs(stats.kurtosis(x)) < 0.05


def test_uniform_distribution():
    u = draws(1_000_000, False).astype(np.float64)
    assert 0 < u.min() and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("kind,a,b,lo,hi,refn", [
    (1, 0.5, 0.0, 0.0, 1.0, lambda x, d: ref.gaussian_corrupt(x, d, 0.5, 0.0, 1.0)),
    (1, 2.0, 0.0, -np.inf, np.inf, lambda x, d: ref.gaussian_corrupt(x, d, 2.0, -np.inf, np.inf)),
    (2, 0.3, 0.25, -1.0, 2.0, lambda x, d: ref.salt_and_pepper_corrupt(x, d, 0.3, 0.25, -1, 2)),
    (3, 0.4, 0.0, 0.0, 0.0, lambda x, d: ref.masking_corrupt(x, d, 0.4)),
])
def test_injected_randomness_is_exact(rng, kind, a, b, lo, hi, refn):
    x = rng.random(10_001, dtype=np.float32)
    d = (rng.standard_normal(10_001) if kind == 1 else rng.random(10_001)).astype(np.float32)
    out = np.empty_like(x)
    _core.corrupt_with(out, x, d, _core.NoiseKind(kind), a, b, lo, hi)
    np.testing.assert_array_equal(out, refn(x, d).astype(np.float32))


def test_noise_objects_use_the_generator_exactly(rng):
    X = rng.random((50, 30), dtype=np.float32)
    flat = X.reshape(-1)
    eps = ref.philox_normal(flat.size, 1, 0)
    got = Gaussian(0.5)(X, seed=1)
    want = np.clip(flat + np.float32(0.5) * draws(flat.size, True, seed=1, stream=0), 0, 1)
    np.testing.assert_array_equal(got.reshape(-1), want)
    np.testing.assert_allclose(got.reshape(-1), np.clip(flat + 0.5 * eps, 0, 1), atol=3e-6)
    u = ref.philox_uniform(flat.size, 2, 0)
    np.testing.assert_array_equal(
        Masking(0.3)(X, seed=2).reshape(-1), ref.masking_corrupt(flat, u, 0.3).astype(np.float32))


def test_row_offset_reproduces_whole_matrix(rng):
    X = rng.random((101, 13), dtype=np.float32)
    g = SaltAndPepper(0.2)
    whole = g(X, seed=5)
    parts = np.concatenate([g(X[:40], seed=5), g(X[40:], seed=5, row_offset=40)])
    np.testing.assert_array_equal(parts, whole)
    assert not np.array_equal(g(X, seed=6), whole)


def test_corrupted_fractions_match():
    X = np.full((1000, 1000), 0.5, np.float32)
    sp = SaltAndPepper(amount=0.2, salt_ratio=0.3)(X, seed=1)
    n = X.size
    for value, p in ((1.0, 0.2 * 0.3), (0.0, 0.2 * 0.7)):
        frac = np.count_nonzero(sp == value) / n
        assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)
    m = Masking(0.35)(X, seed=1)
    frac = np.count_nonzero(m == 0) / n
    assert abs(frac - 0.35) < 5 * np.sqrt(0.35 * 0.65 / n)
    g = Gaussian(0.1, clip=None)(X, seed=1) - X
    assert abs(g.std() - 0.1) < 0.001 and abs(g.mean()) < 0.001
    clipped = Gaussian(0.5)(X, seed=1)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


@pytest.mark.parametrize("make,msg", [
    (lambda: Gaussian(0), "std"), (lambda: Gaussian(-1), "std"),
    (lambda: Gaussian(float("nan")), "std"), (lambda: Gaussian(0.5, clip=(1, 0)), "low < high"),
    (lambda: Gaussian(0.5, clip=5), "pair"), (lambda: SaltAndPepper(1.5), "amount"),
    (lambda: SaltAndPepper(0.1, salt_ratio=-0.1), "salt_ratio"),
    (lambda: SaltAndPepper(0.1, low=1, high=0), "below"), (lambda: Masking(-0.1), "fraction"),
    (lambda: Masking("a"), "fraction"),
])
def test_bad_noise_parameters(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_bad_noise_calls():
    with pytest.raises(ValueError, match="seed"):
        Gaussian(0.5)(np.zeros((2, 2), np.float32), seed=-1)
    with pytest.raises(ValueError, match="NaN"):
        Gaussian(0.5)(np.full((2, 2), np.nan), seed=0)
    with pytest.raises(ValueError, match="2-D"):
        Masking(0.5)(np.zeros(3), seed=0)


def test_config_round_trip():
    for n in (Gaussian(0.3, clip=(-1, 2)), Gaussian(1.0, clip=None), SaltAndPepper(0.1, 0.2),
              Masking(0.5)):
        assert pyae.noise.from_config(n.get_config()) == n


def test_bad_offsets_and_streams():
    X = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="row_offset"):
        Gaussian(0.5)(X, row_offset=-1)
    with pytest.raises(ValueError, match="stream"):
        Masking(0.5)(X, stream=2**64)
    with pytest.raises(ValueError, match="not a noise config"):
        pyae.noise.from_config({"type": "pink"})
