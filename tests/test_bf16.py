"""precision="bf16": the GEMM kernel on each instruction path against the
NumPy emulation (pyae/_reference.py), the rounding itself, the whole
training step against a float64 emulation of a bf16 network and against
central differences, and the model-level setting (files, errors, devices).
Each path runs where this CPU has it and is skipped, with the reason, where
not."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref
from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS

PATHS = ["avx512_bf16", "amx"]
AVAILABLE = _core.bf16_paths()


def path_param(path):
    reason = f"this CPU or OS does not run the {path} path ({pyae.cpu_features()})"
    return pytest.param(path, marks=pytest.mark.skipif(not AVAILABLE[path], reason=reason))


ON_EACH_PATH = pytest.mark.parametrize("path", [path_param(p) for p in PATHS])
NEEDS_BF16 = pytest.mark.skipif(_core.bf16_best_path() == "none",
                                reason="this CPU has neither AVX512-BF16 nor AMX-BF16")


@pytest.fixture
def forced(request):
    """force_bf16_path for one test, undone after it."""
    def force(path):
        _core.force_bf16_path(path)
    yield force
    _core.force_bf16_path("auto")


def operands(rng, M, N, K, trans_a, trans_b):
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a_in = np.ascontiguousarray(a.T) if trans_a else a
    b_in = np.ascontiguousarray(b.T) if trans_b else b
    return a, b, a_in, b_in


SHAPES = [(1, 1, 1), (5, 7, 3), (13, 33, 17), (16, 32, 32), (20, 9, 40), (37, 70, 64),
          (33, 31, 100), (48, 33, 31), (64, 40, 785)]


@ON_EACH_PATH
@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False),
                                             (True, True)])
def test_gemm_matches_the_emulation(path, M, N, K, trans_a, trans_b):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a, b, a_in, b_in = operands(rng, M, N, K, trans_a, trans_b)
    got = _core.bf16_gemm(a_in, b_in, trans_a, trans_b, path=path)
    if path == "avx512_bf16":  # the documented order, bit for bit
        np.testing.assert_array_equal(got, ref.bf16_gemm_dot_products(a, b))
    exact = ref.round_bf16(a).astype(np.float64) @ ref.round_bf16(b).astype(np.float64)
    assert (np.abs(got - exact) <= ref.bf16_gemm_error_bound(a, b)).all()


@ON_EACH_PATH
def test_gemm_alpha_beta_and_a_nan_c_with_beta_zero(path):
    rng = np.random.default_rng(3)
    a, b, _, _ = operands(rng, 20, 36, 50, False, False)
    c = rng.standard_normal((20, 36)).astype(np.float32)
    prod = _core.bf16_gemm(a, b, path=path)
    got = _core.bf16_gemm(a, b, path=path, alpha=0.5, beta=2.0, c=c.copy())
    np.testing.assert_allclose(got, 0.5 * prod + 2.0 * c, rtol=1e-6, atol=1e-6)
    nan_c = np.full((20, 36), np.nan, np.float32)  # beta = 0 never reads C (as BLAS)
    np.testing.assert_array_equal(_core.bf16_gemm(a, b, path=path, c=nan_c), prod)


# alpha 1, beta 0 or 1: the AMX path runs whole 32-column blocks (16 or 32
# rows, or M <= 16) with C in the tiles (read into them when beta is 1), 256
# k at a time over every panel, edge blocks through its buffer; the shapes
# cover both, their borders, and one to four chunks of depth.
ACCUMULATE_SHAPES = [(1, 32, 7), (15, 64, 40), (16, 32, 33), (17, 96, 64), (32, 32, 785),
                     (33, 70, 31), (48, 64, 100), (64, 784, 128), (80, 33, 16), (9, 64, 600),
                     (64, 96, 700), (45, 130, 513)]


@ON_EACH_PATH
@pytest.mark.parametrize("M,N,K", ACCUMULATE_SHAPES)
def test_gemm_adds_to_c_within_the_bound_and_never_reads_it_with_beta_zero(path, M, N, K):
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    a, b, _, _ = operands(rng, M, N, K, False, False)
    c = (4 * rng.standard_normal((M, N))).astype(np.float32)
    got = _core.bf16_gemm(a, b, path=path, alpha=1.0, beta=1.0, c=c.copy())
    exact = (ref.round_bf16(a).astype(np.float64) @ ref.round_bf16(b).astype(np.float64)
             + c.astype(np.float64))
    # C is one more term of the fp32 sum: (K + 1) 2^-24 (sum |a b| + |C|).
    bound = (K + 1) / K * ref.bf16_gemm_error_bound(a, b) + (K + 1) * 2.0**-24 * np.abs(c)
    assert (np.abs(got - exact) <= bound).all()
    if path == "avx512_bf16":  # alpha * acc + beta * C, bit for bit
        np.testing.assert_array_equal(got, ref.bf16_gemm_dot_products(a, b) + c)
    prod = _core.bf16_gemm(a, b, path=path)
    nan_c = np.full((M, N), np.nan, np.float32)
    np.testing.assert_array_equal(_core.bf16_gemm(a, b, path=path, beta=0.0, c=nan_c), prod)
    zero_c = np.zeros((M, N), np.float32)  # adding to zeros: the product itself
    np.testing.assert_array_equal(_core.bf16_gemm(a, b, path=path, beta=1.0, c=zero_c), prod)


@NEEDS_BF16
def test_gemm_refuses_a_c_it_could_only_copy():
    """C is written in place: a strided, Fortran-order or float64 c is refused,
    not silently copied (the caller's array would keep its old values)."""
    a, b = np.ones((4, 3), np.float32), np.ones((3, 4), np.float32)
    path = _core.bf16_best_path()
    for bad in (np.zeros((4, 8), np.float32)[:, ::2], np.zeros((4, 4), np.float32, order="F"),
                np.zeros((4, 4))):
        with pytest.raises(TypeError, match="in place"):
            _core.bf16_gemm(a, b, path=path, beta=1.0, c=bad)


def test_rounding_to_nearest_even_nan_inf_and_subnormals():
    one = np.float32(1.0)
    ulp = 2.0**-7  # bf16 has 8 significant bits
    x = np.array([1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 2**-20, -(1 + ulp / 2),
                  np.inf, -np.inf, 3.4e38, 1e-39, -1e-39, 0.0], np.float32)
    want = np.array([1.0, 1 + 2 * ulp, 1 + ulp, -1.0, np.inf, -np.inf, np.inf, 0.0, -0.0, 0.0],
                    np.float32)
    got = ref.round_bf16(x)
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got[8]) and np.isnan(ref.round_bf16(np.float32(np.nan)))
    assert one == ref.round_bf16(one)


@ON_EACH_PATH
def test_gemm_rounds_as_the_emulation(path):
    """K = 1 with b = 1: C is bf16(a) itself (ties, overflow, NaN, subnormals)."""
    a = np.array([[1 + 2**-8], [1 + 3 * 2**-8], [3.4e38], [1e-39], [np.nan], [-7.3]], np.float32)
    got = _core.bf16_gemm(a, np.ones((1, 1), np.float32), path=path)
    np.testing.assert_array_equal(got[[0, 1, 2, 3, 5]], ref.round_bf16(a)[[0, 1, 2, 3, 5]])
    assert np.isnan(got[4, 0])


def test_gemm_rejects_bad_calls():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="chain"):
        _core.bf16_gemm(a, np.ones((5, 2), np.float32), path=_core.bf16_best_path())
    with pytest.raises(ValueError, match="unknown bf16 path"):
        _core.bf16_gemm(a, a.T.copy(), path="fp8")
    with pytest.raises(TypeError):
        _core.bf16_gemm(a.astype(np.float64), a.T.copy(), path="amx")
    for path in PATHS:
        if not AVAILABLE[path]:
            with pytest.raises(ValueError, match="not available"):
                _core.bf16_gemm(a, a.T.copy(), path=path)


# --------------------------------------------------------- the whole step
def bf16_network(widths, acts, tied, loss, path, forced):
    forced(path)
    table = _core.LayerTable.autoencoder(widths[0], widths[1:len(widths) // 2 + 1],
                                         ACTIVATIONS[acts[0]], ACTIVATIONS[acts[-1]], tied)
    net = _core.Network(table, LOSSES[loss],
                        OPTIMIZERS["sgd"], 0.1, 0.9, 0.999, 1e-8, 0.0)
    net.set_precision(PRECISIONS["bf16"])
    assert net.gemm_path == path
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.8, 0.8, net.params.size)
    return net


def emulated_step(net, acts, xb, loss):
    """The bf16 network's loss and gradient, float64 apart from the rounding."""
    ws, bs, ts, _ = ref.unpack(net.table, net.params)
    train_acts = list(acts[:-1]) + ["identity"] if loss == "bce" else list(acts)
    outs, pres = [xb], []
    for w, b, t, a in zip(ws, bs, ts, train_acts):
        out, pre = ref.bf16_dense_forward(outs[-1], w, b, a, t)
        outs.append(out)
        pres.append(pre)
    value, dout, _ = (ref.bce_with_logits_loss if loss == "bce" else ref.mse_loss)(outs[-1], xb)
    grads = np.zeros(net.params.size)
    for l in range(len(ws) - 1, -1, -1):
        row = net.table[l]
        dinp, dw, db = ref.bf16_dense_backward(dout, outs[l + 1], pres[l], outs[l], ws[l],
                                               train_acts[l], ts[l])
        owner = net.table[row.tied_to] if row.tied_to >= 0 else row
        n = owner.d_in * owner.d_out
        grads[owner.weight_offset:owner.weight_offset + n] += dw.ravel()
        grads[row.bias_offset:row.bias_offset + row.d_out] += db
        dout = dinp
    return value, grads


STEP_ARCHS = [
    ([40, 24, 8, 24, 40], ["sigmoid"] * 4, False, "mse"),
    ([40, 24, 8, 24, 40], ["tanh"] * 3 + ["sigmoid"], True, "bce"),
    ([33, 17, 33], ["gelu", "sigmoid"], False, "mse"),
]


@ON_EACH_PATH
@pytest.mark.parametrize("widths,acts,tied,loss", STEP_ARCHS)
def test_step_matches_the_bf16_emulation(path, widths, acts, tied, loss, forced):
    net = bf16_network(widths, acts, tied, loss, path, forced)
    X = np.random.default_rng(1).random((70, widths[0]), dtype=np.float32)
    rows = np.arange(3, 67, dtype=np.int64)
    got_loss = net.compute_gradients(X, rows)[0]
    want_loss, want = emulated_step(net, acts, X[rows].astype(np.float64), loss)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    # Left over: float32 accumulation, and a few float32 dpre values that sit
    # on the other side of a bf16 rounding boundary than the float64 ones.
    np.testing.assert_allclose(net.grads, want, rtol=0, atol=2e-3 * np.abs(want).max())


@ON_EACH_PATH
@pytest.mark.parametrize("widths,acts,tied,loss", STEP_ARCHS)
def test_step_gradient_against_central_differences(path, widths, acts, tied, loss, forced):
    """The bf16 gradient is that of the float32 network to bf16 accuracy."""
    net = bf16_network(widths, acts, tied, loss, path, forced)
    X = np.random.default_rng(2).random((50, widths[0]), dtype=np.float32)
    rows = np.arange(50, dtype=np.int64)
    net.compute_gradients(X, rows)
    p0 = net.params.astype(np.float64)

    def loss_at(p):
        ws, bs, ts, _ = ref.unpack(net.table, p)
        return ref.network_loss(ws, bs, ts, acts, X.astype(np.float64), loss)

    num = ref.central_difference_gradient(loss_at, p0)
    scale = np.abs(num).max()
    err = np.abs(net.grads - num)
    assert err.max() <= 0.03 * scale  # bf16 operands: ~2^-9 relative per product
    assert np.median(err) <= 0.003 * scale
    cos = net.grads @ num / np.linalg.norm(net.grads) / np.linalg.norm(num)
    assert cos > 0.999


# ------------------------------------------------------------- the models
@NEEDS_BF16
@pytest.mark.parametrize("Model", [pyae.Autoencoder, pyae.DenoisingAutoencoder, pyae.VAE])
def test_bf16_training_follows_fp32(Model):
    X = np.random.default_rng(0).random((600, 30), dtype=np.float32)
    kw = dict(hidden=(16, 4), epochs=8, batch_size=64, verbose=False, seed=3)
    if Model is pyae.VAE:
        kw = dict(hidden=(16,), latent_dim=4, epochs=8, batch_size=64, verbose=False, seed=3)
    fp32 = Model(**kw).fit(X)
    bf16 = Model(**kw, precision="bf16").fit(X)
    assert bf16.network_.precision.name == "bf16"
    assert bf16.network_.gemm_path == _core.bf16_best_path()
    lf, lb = fp32.history_["loss"][-1], bf16.history_["loss"][-1]
    assert lb == pytest.approx(lf, rel=0.02)
    assert not np.array_equal(fp32.network_.params, bf16.network_.params)  # it did round


@NEEDS_BF16
def test_precision_is_a_setting_for_inference_and_is_saved(tmp_path):
    X = np.random.default_rng(0).random((300, 24), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(12, 4), epochs=2, verbose=False).fit(X)
    fp32_out = model.reconstruct(X)
    model.set_params(precision="bf16")
    bf16_out = model.reconstruct(X)
    assert model.network_.gemm_path == _core.bf16_best_path()
    assert not np.array_equal(fp32_out, bf16_out)
    np.testing.assert_allclose(bf16_out, fp32_out, atol=2e-2)
    model.save(tmp_path / "m.safetensors")
    back = pyae.load(tmp_path / "m.safetensors")
    assert back.precision == "bf16" and back.network_.params.dtype == np.float32
    np.testing.assert_array_equal(back.network_.params, model.network_.params)
    np.testing.assert_array_equal(back.reconstruct(X), bf16_out)
    back.set_params(precision="fp32")
    np.testing.assert_array_equal(back.reconstruct(X), fp32_out)


def test_a_cpu_without_bf16_gets_a_clear_error_and_loses_nothing(forced, tmp_path):
    X = np.random.default_rng(0).random((100, 10), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False).fit(X)
    before = model.network_.params.copy()
    model.save(tmp_path / "m.safetensors")
    forced("none")
    with pytest.raises(RuntimeError, match="AVX512-BF16.*AMX-BF16"):
        pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False, precision="bf16").fit(X)
    model.set_params(precision="bf16")
    with pytest.raises(RuntimeError, match="AVX512-BF16"):
        model.transform(X)
    model.set_params(precision="fp32")
    np.testing.assert_array_equal(model.network_.params, before)
    model.transform(X)
    # A file saved with precision="bf16" still loads here; using it asks for bf16.
    model.set_params(precision="bf16")
    model.save(tmp_path / "b.safetensors")
    back = pyae.load(tmp_path / "b.safetensors")
    with pytest.raises(RuntimeError, match="precision='fp32'"):
        back.score_samples(X)
    np.testing.assert_array_equal(back.set_params(precision="fp32").transform(X),
                                  model.set_params(precision="fp32").transform(X))


def test_bad_precision_values_and_devices():
    X = np.random.default_rng(0).random((50, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="precision"):
        pyae.Autoencoder(hidden=(3,), epochs=1, precision="fp16").fit(X)
    with pytest.raises(ValueError, match="CPU only"):
        pyae.Autoencoder(hidden=(3,), epochs=1, precision="bf16", device="cuda").fit(X)
    assert pyae.Autoencoder().get_params()["precision"] == "fp32"
    fitted = pyae.Autoencoder(hidden=(3,), epochs=1, verbose=False).fit(X)
    for bad in (["bf16"], {"bf16": 1}):  # unhashable: named, not "unhashable type"
        with pytest.raises(ValueError, match="precision must be one of"):
            pyae.Autoencoder(hidden=(3,), epochs=1, precision=bad).fit(X)
        fitted.set_params(precision=bad)  # checked at the next call, as every setting
        with pytest.raises(ValueError, match="precision must be one of"):
            fitted.transform(X)
    assert fitted.set_params(precision="fp32").transform(X).shape == (50, 3)


def test_cpu_features_names_the_paths():
    f = pyae.cpu_features()
    assert set(f["bf16_paths"]) == set(PATHS)
    assert f["bf16_path"] in ("none", *[p for p in PATHS if f["bf16_paths"][p]])
    if f["bf16_paths"]["amx"]:
        assert f["bf16_path"] == "amx"


# ---------------------------------------------- inference on packed weights
def emulated_forward(net, x):
    ws, bs, ts, acts = ref.unpack(net.table, net.params)
    out = x
    for w, b, t, a in zip(ws, bs, ts, acts):
        out, _ = ref.bf16_dense_forward(out, w, b, a, t)
    return out


@ON_EACH_PATH
@pytest.mark.parametrize("B", [1, 3, 17, 40, 300])
@pytest.mark.parametrize("tied", [False, True])
def test_inference_on_packed_weights_matches_the_emulation(path, B, tied, forced):
    net = bf16_network([70, 40, 9, 40, 70], ["tanh"] * 3 + ["sigmoid"], tied, "mse", path,
                       forced)
    x = np.random.default_rng(B).random((B, 70), dtype=np.float32)
    out = np.empty_like(x)
    for _ in range(2):  # the second call runs on the weights packed by the first
        net.forward(x, out, 0, len(net.table))
        np.testing.assert_allclose(out, emulated_forward(net, x), rtol=0, atol=2e-5)


@NEEDS_BF16
def test_packed_weights_follow_every_parameter_change():
    net = bf16_network([30, 12, 30], ["sigmoid"] * 2, False, "mse", _core.bf16_best_path(),
                       lambda path: None)
    x = np.random.default_rng(0).random((5, 30), dtype=np.float32)
    out = np.empty_like(x)

    def forward():
        net.forward(x, out, 0, 2)
        return out.copy()

    first = forward()
    net.mutable_params()[:] = net.params * np.float32(0.5)  # a write from Python
    halved = forward()
    assert not np.array_equal(first, halved)
    np.testing.assert_allclose(halved, emulated_forward(net, x), atol=2e-5)
    net.train_step(x, np.arange(5, dtype=np.int64))  # a training step
    np.testing.assert_allclose(forward(), emulated_forward(net, x), atol=2e-5)
    net.compute_gradients(x, np.arange(5, dtype=np.int64))
    net.apply_gradients()  # a data-parallel step
    np.testing.assert_allclose(forward(), emulated_forward(net, x), atol=2e-5)
    net.set_precision(PRECISIONS["fp32"])
    ws, bs, ts, acts = ref.unpack(net.table, net.params)
    want = ref.network_forward(ws, bs, ts, acts, x)[-1]
    np.testing.assert_allclose(forward(), want, rtol=1e-5, atol=1e-6)


@NEEDS_BF16
def test_concurrent_bf16_inference_agrees_with_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    X = np.random.default_rng(0).random((400, 50), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(32, 8), epochs=1, verbose=False, precision="bf16").fit(X)
    want = model.reconstruct(X)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: model.reconstruct(X[i * 100:(i + 1) * 100]), range(4)))
    np.testing.assert_array_equal(np.vstack(outs), want)


@NEEDS_BF16
def test_switching_precision_while_other_threads_infer():
    """Each call runs on one consistent snapshot of paths and packed weights."""
    import threading

    X = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(64,), epochs=1, verbose=False).fit(X)
    net = model.network_
    choices = [PRECISIONS["bf16"], PRECISIONS["fp32"]] + \
        ([PRECISIONS["int8"]] if _core.int8_best_path() != "none" else [])
    errors, stop = [], threading.Event()

    def infer():
        out = np.empty_like(X)
        while not stop.is_set():
            try:
                net.forward(X, out, 0, 2)
            except Exception as e:  # noqa: BLE001 (any failure is the finding)
                errors.append(e)
                return

    threads = [threading.Thread(target=infer) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(2000):
        net.set_precision(choices[i % len(choices)])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


def special_values(rows, cols, seed):
    """float32 values that round in every way: ties to even both ways,
    subnormals of both signs, large normals, ordinary values."""
    rng = np.random.default_rng(seed)
    ulp = 2.0**-7
    pool = np.array([1 + ulp / 2, 1 + 3 * ulp / 2, -(1 + ulp / 2), 1e-39, -3e-40, 2.5e38,
                     -1.7e38, 0.0, -0.0], np.float32)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    mask = rng.random((rows, cols)) < 0.4
    x[mask] = rng.choice(pool, mask.sum())
    return x


@ON_EACH_PATH
@pytest.mark.parametrize("trans", [False, True])
def test_vector_packing_rounds_as_the_scalar_rule(path, trans):
    """The packers convert 16-word runs and 16 x 16 blocks with the CPU's
    bf16 conversions and the edges word by word: both round as
    round_bf16. Multiplying by an identity returns the rounded operand."""
    x = special_values(48, 70, 1)  # blocks and edges on both sides
    eye_k, eye_m = np.eye(70, dtype=np.float32), np.eye(48, dtype=np.float32)
    a_in = np.ascontiguousarray(x.T) if trans else x
    got_a = _core.bf16_gemm(a_in, eye_k, trans, False, path=path)  # bf16(x) . I
    b_in = np.ascontiguousarray(x.T) if trans else x
    got_b = _core.bf16_gemm(eye_m, b_in, False, trans, path=path)  # I . bf16(x)
    want = ref.round_bf16(x)
    np.testing.assert_array_equal(got_a, want)
    np.testing.assert_array_equal(got_b, want)
    x[5, 40] = np.nan  # a NaN operand makes its whole row (column) of products NaN
    a_in = np.ascontiguousarray(x.T) if trans else x
    assert np.isnan(_core.bf16_gemm(a_in, eye_k, trans, False, path=path)[5]).all()


@ON_EACH_PATH
@pytest.mark.parametrize("tied", [False, True])
def test_a_sharded_bf16_step_equals_the_weighted_shard_gradients(path, tied, forced):
    """A sharded step packs each weight once for both shards (forward and
    input-gradient orientations, tied layers included): its update equals the
    share-weighted gradients of the shards computed alone, each packing its
    own operands per call (an SGD step of rate 1 is the gradient itself), to
    1e-7: the same bf16 products, summed in another order only across shards."""
    from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS

    forced(path)
    before_threads = pyae.get_num_threads()
    try:
        pyae.set_num_threads(2)
        table = _core.LayerTable.autoencoder(70, [40, 9], ACTIVATIONS["sigmoid"],
                                             ACTIVATIONS["sigmoid"], tied)
        net = _core.Network(table, LOSSES["mse"], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
        net.set_precision(PRECISIONS["bf16"])
        net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
        X = np.random.default_rng(1).random((300, 70), dtype=np.float32)
        rows = np.arange(5, 205, dtype=np.int64)
        grads = []
        for lo, hi in [(0, 100), (100, 200)]:
            net.compute_gradients(X, rows[lo:hi], keys=np.arange(lo, hi, dtype=np.int64))
            grads.append(net.grads.copy())
        before = net.params.copy()
        net.train_step(X, rows)  # 2 shards of 100 rows
        want = before - (np.float32(0.5) * grads[0] + np.float32(0.5) * grads[1])
        np.testing.assert_allclose(net.params, want, rtol=0, atol=1e-7)
        net.mutable_params()[:] *= 0.5  # a changed weight is packed again at the next step
        grads = []
        for lo, hi in [(0, 100), (100, 200)]:
            net.compute_gradients(X, rows[lo:hi], keys=np.arange(lo, hi, dtype=np.int64))
            grads.append(net.grads.copy())
        before = net.params.copy()
        net.train_step(X, rows)
        want = before - (np.float32(0.5) * grads[0] + np.float32(0.5) * grads[1])
        np.testing.assert_allclose(net.params, want, rtol=0, atol=1e-7)
    finally:
        pyae.set_num_threads(before_threads)
