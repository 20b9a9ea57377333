"""Threads and failed training calls: training on one model from several
threads is serialised (never memory corruption), inference during training
from another thread is refused (and a step waits for inference already
running), and any exception in fit/partial_fit leaves the model exactly as
it was."""

import threading
import time

import numpy as np
import pytest

import pyae
from pyae import _backends

X = np.random.default_rng(0).random((512, 40), dtype=np.float32)


def state(model):
    net = model.network_
    return dict(params=net.params.copy(), m=net.optimizer_state(0).copy(),
                v=net.optimizer_state(1).copy(), step=net.step_count,
                rng=str(model._shuffle_rng.bit_generator.state), history=str(model.history_))


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


def test_two_threads_training_one_model_are_serialised():
    """The issue's reproducer: heap corruption before, now two queues of
    partial_fit calls that take turns."""
    model = pyae.Autoencoder(hidden=(32, 8), epochs=1, verbose=False).fit(X)
    errors = []

    def work(batch):
        try:
            for _ in range(10):
                model.set_params(batch_size=batch)
                model.partial_fit(X)
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work, args=(b,)) for b in (64, 200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(model.history_["loss"]) == 21 and np.isfinite(model.network_.params).all()


def test_raw_network_steps_from_two_threads_are_serialised():
    net = pyae.Autoencoder(hidden=(16,), epochs=1, verbose=False).fit(X).network_
    rows = [np.arange(b, dtype=np.int64) for b in (64, 256)]  # different buffer sizes

    def work(r):
        for _ in range(50):
            net.train_step(X, r)

    threads = [threading.Thread(target=work, args=(r,)) for r in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert net.step_count > 100 and np.isfinite(net.params).all()


def test_inference_from_another_thread_during_training_is_refused(monkeypatch):
    model = pyae.Autoencoder(hidden=(8,), epochs=1, verbose=False).fit(X)
    inside, release = threading.Event(), threading.Event()
    real = _backends.CpuBackend.train_epoch

    def slow_epoch(self, *args):
        inside.set()
        release.wait(10)
        return real(self, *args)

    monkeypatch.setattr(_backends.CpuBackend, "train_epoch", slow_epoch)
    trainer = threading.Thread(target=model.partial_fit, args=(X,))
    trainer.start()
    assert inside.wait(10)
    with pytest.raises(RuntimeError, match="training in another thread"):
        model.transform(X)
    release.set()
    trainer.join()
    assert model.transform(X).shape == (512, 8)  # and fine again afterwards


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_step_waits_for_inference_already_reading_the_weights(precision):
    """A call that passed the training check before a step began (or one on
    the raw network) finishes on the weights it started with: the step
    waits for it. It used to read biases, and unpacked weights, mid-update."""
    if precision == "bf16" and pyae.cpu_features()["bf16_path"] == "none":
        pytest.skip("this CPU has no bf16 path")
    rng = np.random.default_rng(1)
    data = rng.random((20_000, 784), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(256, 64), epochs=1, batch_size=256, learning_rate=1e-2,
                             verbose=False, precision=precision).fit(data[:512])
    net = model.network_
    n_layers = len(net.table)
    before = np.empty_like(data)
    net.forward(data, before, 0, n_layers)
    out = np.empty_like(data)
    reader = threading.Thread(target=net.forward, args=(data, out, 0, n_layers))
    reader.start()
    time.sleep(0.02)  # inside the (~0.1 s) forward
    for _ in range(5):
        net.train_step(data, np.arange(256, dtype=np.int64))
    reader.join()
    after = np.empty_like(data)
    net.forward(data, after, 0, n_layers)
    assert not np.array_equal(before, after)
    assert np.array_equal(out, before) or np.array_equal(out, after)


@pytest.mark.parametrize("cls,kw", [(pyae.Autoencoder, {}),
                                    (pyae.DenoisingAutoencoder, {}),
                                    (pyae.VAE, dict(latent_dim=4, loss="gaussian"))])
def test_an_interrupt_mid_epoch_leaves_the_model_as_it_was(monkeypatch, cls, kw):
    model = cls(hidden=(16,), epochs=2, batch_size=64, verbose=False, **kw)
    model.fit(X, validation_data=X[:50])
    before = state(model)
    twin = cls(hidden=(16,), epochs=2, batch_size=64, verbose=False, **kw)
    twin.fit(X, validation_data=X[:50])
    real = _backends.CpuBackend.train_epoch

    def interrupted(self, data, order, batch):
        self.net.train_step(data, order[:batch])  # real steps change the weights...
        self.net.train_step(data, order[batch:2 * batch])
        raise KeyboardInterrupt  # ...then Ctrl-C

    monkeypatch.setattr(_backends.CpuBackend, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(X, validation_data=X[:50])
    assert_same_state(state(model), before)
    monkeypatch.setattr(_backends.CpuBackend, "train_epoch", real)
    model.partial_fit(X)  # resumes exactly like a model that was never interrupted
    twin.partial_fit(X)
    assert_same_state(state(model), state(twin))


def test_divergence_leaves_a_usable_model(tmp_path):
    """The issue's reproducer: after FloatingPointError the weights were
    NaN, transform answered, save succeeded and load rejected the file."""
    model = pyae.Autoencoder(hidden=(16,), epochs=1, verbose=False).fit(X)
    before = state(model)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.partial_fit(np.full((64, 40), 1e30, np.float32))
    assert_same_state(state(model), before)
    model.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(pyae.load(tmp_path / "m.safetensors").transform(X),
                                  model.transform(X))


def test_a_failed_fit_keeps_the_previous_model_or_none():
    fresh = pyae.Autoencoder(hidden=(16,), epochs=1, learning_rate=1e6, verbose=False)
    with pytest.raises(FloatingPointError):
        fresh.fit(np.full((64, 40), 1e30, np.float32))
    with pytest.raises(pyae.NotFittedError):
        fresh.transform(X)
    model = pyae.Autoencoder(hidden=(16,), epochs=1, verbose=False).fit(X)
    before, table = state(model), model.network_
    with pytest.raises(FloatingPointError):
        model.fit(np.full((64, 40), 1e30, np.float32))
    assert model.network_ is table
    assert_same_state(state(model), before)


def test_the_lock_does_not_travel_with_copies():
    import copy
    import pickle

    model = pyae.Autoencoder(hidden=(8,), epochs=1, verbose=False).fit(X)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert "_lock_" not in twin.__dict__
        twin.partial_fit(X)
        assert twin.__dict__["_lock_"] is not model.__dict__["_lock_"]
