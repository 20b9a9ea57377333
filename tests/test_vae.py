"""VAE: kernels against references and central differences, the whole C++
step against float64 finite differences, bounds, reproducibility, files."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("B,Z", [(1, 1), (3, 5), (128, 20), (1000, 2)])
def test_reparameterize_forward_backward(rng, B, Z):
    ml, eps, dz = f32(rng, B, 2 * Z), f32(rng, B, Z), f32(rng, B, Z)
    z = np.empty((B, Z), np.float32)
    _core.reparameterize_forward(z, ml, eps)
    np.testing.assert_allclose(z, ref.reparameterize(ml, eps), rtol=2e-6, atol=2e-6)
    d = np.zeros_like(ml)
    _core.reparameterize_backward(d, dz, z, ml)
    sigma = np.exp(0.5 * ml[:, Z:].astype(np.float64))
    np.testing.assert_allclose(d[:, :Z], dz)
    np.testing.assert_allclose(d[:, Z:], 0.5 * dz * eps * sigma, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("B,Z", [(1, 1), (4, 7), (256, 20)])
def test_kl_forward_backward(rng, B, Z):
    ml = f32(rng, B, 2 * Z)
    d = np.zeros_like(ml)
    rows = np.empty(B, np.float32)
    total = _core.kl_rows(d, rows, ml, 0.5)
    want = ref.kl_divergence(ml)
    np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-5)
    assert total == pytest.approx(want.sum(), rel=1e-5)
    # Central differences of 0.5 * sum_b KL_b.
    h = 1e-6
    num = np.zeros(ml.shape)
    base = ml.astype(np.float64)
    for idx in list(np.ndindex(ml.shape))[:60]:
        p, m = base.copy(), base.copy()
        p[idx] += h
        m[idx] -= h
        num[idx] = 0.5 * (ref.kl_divergence(p).sum() - ref.kl_divergence(m).sum()) / (2 * h)
        assert d[idx] == pytest.approx(num[idx], rel=1e-4, abs=1e-6)


def test_closed_form_kl_matches_monte_carlo(rng):
    mu = np.array([[0.5, -1.0, 2.0]])
    lv = np.array([[-0.5, 0.3, 1.0]])
    z = mu + np.exp(0.5 * lv) * rng.standard_normal((400_000, 3))
    log_q = -0.5 * (((z - mu) ** 2) / np.exp(lv) + lv + np.log(2 * np.pi)).sum(1)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi)).sum(1)
    mc = (log_q - log_p).mean()
    rows = np.empty(1, np.float32)
    _core.kl_rows(None, rows, np.hstack([mu, lv]).astype(np.float32), 0.0)
    assert rows[0] == pytest.approx(mc, abs=0.02)


@pytest.mark.parametrize("kind,code", [("bce", _core.Loss.bce), ("gaussian", _core.Loss.mse)])
def test_reconstruction_nll(rng, kind, code):
    out, t = f32(rng, 6, 9, scale=3), rng.random((6, 9), dtype=np.float32)
    grad = np.zeros_like(out)
    rows = np.empty(6, np.float32)
    total = _core.reconstruction_nll_rows(code, grad, rows, out, t, 0.25)
    np.testing.assert_allclose(rows, ref.reconstruction_nll(out, t, kind), rtol=1e-5)
    assert total == pytest.approx(rows.sum(), rel=1e-5)
    h = 1e-6
    for idx in [(0, 0), (3, 4), (5, 8)]:
        p, m = out.astype(np.float64), out.astype(np.float64)
        p[idx] += h
        m[idx] -= h
        num = 0.25 * (ref.reconstruction_nll(p, t, kind).sum()
                      - ref.reconstruction_nll(m, t, kind).sum()) / (2 * h)
        assert grad[idx] == pytest.approx(num, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("hidden,kind,act,beta", [
    ([5], "bce", "relu", 1.0), ([6, 4], "gaussian", "tanh", 0.5), ([], "bce", "sigmoid", 2.0)])
def test_whole_vae_step_matches_central_differences(hidden, kind, act, beta):
    from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS

    D, Z = 7, 3
    loss = LOSSES["bce" if kind == "bce" else "mse"]
    out_act = "sigmoid" if kind == "bce" else "identity"
    table = _core.LayerTable.vae(D, hidden, Z, ACTIVATIONS[act], ACTIVATIONS[out_act])
    net = _core.Network(table, loss, OPTIMIZERS["sgd"], 0.1, 0.9, 0.999, 1e-8, 0.0, beta=beta)
    rng = np.random.default_rng(5)
    net.mutable_params()[:] = rng.uniform(-0.7, 0.7, net.params.size).astype(np.float32)
    X = rng.random((6, D), dtype=np.float32)
    rows = np.array([0, 2, 5, 5], dtype=np.int64)
    eps = f32(rng, 4, Z)
    loss, recon, kl = net.compute_gradients(X, rows, eps)
    acts = [act] * len(hidden) + ["identity"] + [act] * len(hidden) + [out_act]
    head = len(hidden)
    p0 = net.params.astype(np.float64)

    def loss_at(p):
        ws, bs, _, _ = ref.unpack(net.table, p)
        return ref.vae_loss(ws, bs, acts, head, X[rows], eps, kind, beta)

    assert loss == pytest.approx(loss_at(p0), rel=1e-5)
    assert loss == pytest.approx(recon + beta * kl, rel=1e-9)
    grads = net.grads.copy()
    num = ref.central_difference_gradient(loss_at, p0)
    np.testing.assert_allclose(grads, num, rtol=2e-3, atol=5e-6)


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    protos = rng.random((5, 64)) > 0.6
    X = np.repeat(protos, 80, axis=0).astype(np.float32)
    flips = rng.random(X.shape) < 0.05
    return np.where(flips, 1 - X, X).astype(np.float32)


def small_vae(**kw):
    args = dict(hidden=(32,), latent_dim=4, epochs=30, batch_size=32, learning_rate=3e-3,
                verbose=False, seed=0)
    args.update(kw)
    return pyae.VAE(**args)


def test_training_improves_elbo_and_bounds_hold(digits):
    v = small_vae(epochs=1)
    v.partial_fit(digits[:1])
    untrained = -v.elbo(digits, n_samples=5).mean()
    v = small_vae().fit(digits, validation_data=digits[:100])
    trained = -v.elbo(digits, n_samples=5).mean()
    assert trained < 0.5 * untrained
    elbo = v.elbo(digits, n_samples=20).mean()
    lls = [v.log_likelihood(digits, k=k).mean() for k in (1, 10, 100)]
    assert elbo <= lls[-1]
    assert lls[0] <= lls[1] <= lls[2]


def test_api_shapes_and_determinism(digits):
    v = small_vae(epochs=3).fit(digits)
    assert v.transform(digits).shape == (400, 4)
    assert not np.array_equal(v.transform(digits, sample=True), v.transform(digits))
    np.testing.assert_array_equal(v.transform(digits, sample=True, seed=2),
                                  v.transform(digits, sample=True, seed=2))
    assert v.inverse_transform(v.transform(digits)).shape == digits.shape
    s = v.sample(16, seed=3)
    assert s.shape == (16, 64) and 0 <= s.min() and s.max() <= 1
    np.testing.assert_array_equal(s, v.sample(16, seed=3))
    path = v.interpolate(digits[0], digits[-1], steps=7)
    assert path.shape == (7, 64)
    np.testing.assert_allclose(path[0], v.reconstruct(digits[:1])[0], atol=1e-6)
    assert v.score_samples(digits).shape == (400,)


def test_reproducible_bit_for_bit(digits, threads):
    runs = []
    for t in (1, 2, 1):
        pyae.set_num_threads(t)
        runs.append(small_vae(epochs=2).fit(digits).network_.params.copy())
    np.testing.assert_array_equal(runs[0], runs[2])


def test_save_load_round_trip(tmp_path, digits):
    v = small_vae(epochs=2, loss="gaussian", output_activation="identity", beta=0.5).fit(digits)
    v.save(tmp_path / "v.safetensors")
    back = pyae.load(tmp_path / "v.safetensors")
    assert type(back) is pyae.VAE and back.get_params() == v.get_params()
    np.testing.assert_array_equal(back.sample(5, seed=1), v.sample(5, seed=1))
    np.testing.assert_array_equal(back.elbo(digits), v.elbo(digits))


@pytest.mark.parametrize("params,msg", [
    (dict(latent_dim=0), "latent_dim"), (dict(beta=-1.0), "beta"),
    (dict(beta=float("inf")), "beta"), (dict(loss="mse"), "loss"),
    (dict(output_activation="identity"), "sigmoid"),
])
def test_bad_hyperparameters(digits, params, msg):
    with pytest.raises(ValueError, match=msg):
        small_vae(**params).fit(digits)


def test_bad_input(digits):
    v = small_vae(epochs=1).fit(digits)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        small_vae().fit(digits * 3)
    with pytest.raises(ValueError, match="k must be"):
        v.log_likelihood(digits, k=0)
    with pytest.raises(ValueError, match="expecting 4"):
        v.inverse_transform(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        v.elbo(np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="n must be"):
        v.sample(0)


def test_vae_on_mnist(data_dir):
    X, _ = pyae.datasets.load_mnist("test", data_dir=data_dir)
    order = np.random.default_rng(0).permutation(len(X))
    train, held_out = X[order[:8000]], X[order[8000:]]
    v = pyae.VAE(hidden=(400,), latent_dim=20, epochs=1, verbose=False, seed=0)
    v.partial_fit(train[:1])
    untrained = -v.elbo(held_out).mean()
    v.set_params(epochs=10).fit(train)
    trained = -v.elbo(held_out).mean()
    assert trained < 0.35 * untrained  # ~540 -> ~125 nats
    s = v.sample(64, seed=3)
    # Not collapsed: samples differ from each other about as much as digits do.
    assert s.std(axis=0).mean() > 0.3 * held_out.std(axis=0).mean()


def test_bad_sampling_arguments(digits):
    v = small_vae(epochs=1).fit(digits)
    with pytest.raises(ValueError, match="steps"):
        v.interpolate(digits[0], digits[1], steps=0)
    with pytest.raises(ValueError, match="n_samples"):
        v.elbo(digits, n_samples=0)
    with pytest.raises(ValueError, match="expecting 64"):
        v.transform(np.zeros((2, 10), np.float32))


def test_bce_allows_float32_rounding_of_scaled_data(rng):
    # MinMaxScaler on float32 data gives values such as 1.0000001
    X = rng.uniform(size=(100, 8)).astype(np.float32)
    X[0, 0], X[1, 1] = np.nextafter(np.float32(1), np.float32(2)), -1e-8
    fast = dict(hidden=(4,), epochs=1, verbose=False)
    pyae.VAE(latent_dim=2, **fast).fit(X)
    pyae.Autoencoder(loss="bce", **fast).fit(X)
    X[0, 0] = 1.001
    with pytest.raises(ValueError, match=r"needs data in \[0, 1\]"):
        pyae.VAE(latent_dim=2, **fast).fit(X)
