"""set_params after fit: a structural change makes partial_fit raise
(naming the parameter; fit rebuilds), the others take effect at the next
call, and whatever the sequence, save then load gives a model whose outputs
equal the original's bit for bit (issue 11's reproducers: files that no
longer loaded, or loaded as another model)."""

import copy

import numpy as np
import pytest

import pyae

X = np.random.default_rng(0).random((200, 12), dtype=np.float32)
STRUCTURAL_CHANGES = [
    (pyae.Autoencoder, "hidden", (6,)), (pyae.Autoencoder, "activation", "relu"),
    (pyae.Autoencoder, "output_activation", "tanh"), (pyae.Autoencoder, "loss", "bce"),
    (pyae.Autoencoder, "tied_weights", True), (pyae.Autoencoder, "optimizer", "sgd"),
    (pyae.Autoencoder, "momentum", 0.5), (pyae.VAE, "latent_dim", 5),
    (pyae.VAE, "activation", "gelu"), (pyae.DenoisingAutoencoder, "noise", pyae.noise.Masking(0.2)),
]


def model(cls, **kw):
    extra = dict(latent_dim=3, loss="gaussian") if cls is pyae.VAE else {}
    return cls(hidden=(8, 4), epochs=1, verbose=False, **{**extra, **kw}).fit(X)


@pytest.mark.parametrize("cls,name,value", STRUCTURAL_CHANGES)
def test_partial_fit_after_a_structural_change_names_it_and_fit_rebuilds(cls, name, value,
                                                                          tmp_path):
    m = model(cls)
    outputs = m.reconstruct(X)
    m.set_params(**{name: value})
    with pytest.raises(ValueError, match=f"{name} changed.*call fit"):
        m.partial_fit(X)
    np.testing.assert_array_equal(m.reconstruct(X), outputs)  # still the fitted network
    m.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(pyae.load(tmp_path / "m.safetensors").reconstruct(X), outputs)
    m.fit(X)  # rebuilds with the new value
    m.partial_fit(X)


def test_live_parameters_take_effect_at_the_next_call():
    m = model(pyae.Autoencoder, batch_size=50)
    steps = m.network_.step_count
    m.set_params(batch_size=20, epochs=3).partial_fit(X)
    assert m.network_.step_count == steps + 10  # batch 20, one epoch
    vae = model(pyae.VAE)
    kl_weighted, kl_free = copy.deepcopy(vae), copy.deepcopy(vae)
    kl_weighted.set_params(beta=4.0).partial_fit(X)
    kl_free.set_params(beta=0.0).partial_fit(X)
    assert kl_weighted.history_["loss"][-1] > kl_free.history_["loss"][-1]
    dae = model(pyae.DenoisingAutoencoder, noise=pyae.noise.Gaussian(0.1))
    light, heavy = copy.deepcopy(dae), copy.deepcopy(dae)
    light.partial_fit(X)
    heavy.set_params(noise=pyae.noise.Gaussian(0.9)).partial_fit(X)
    assert not np.array_equal(light.network_.params, heavy.network_.params)
    assert heavy._noise() == pyae.noise.Gaussian(0.9)


CHOICES = {
    "hidden": [(8, 4), (5,), (9, 3)], "activation": ["sigmoid", "relu", "silu"],
    "learning_rate": [1e-3, 1e-2], "batch_size": [16, 64], "epochs": [1, 2],
    "momentum": [0.9, 0.5], "patience": [None, 1], "seed": [0, 3],
}


@pytest.mark.parametrize("cls", [pyae.Autoencoder, pyae.DenoisingAutoencoder, pyae.VAE])
def test_any_set_params_sequence_then_save_and_load_keeps_the_outputs(cls, tmp_path):
    rng = np.random.default_rng(7)
    m = model(cls)
    for step in range(25):
        name = list(CHOICES)[rng.integers(len(CHOICES))]
        m.set_params(**{name: CHOICES[name][rng.integers(len(CHOICES[name]))]})
        action = rng.integers(4)
        try:
            if action == 0:
                m.partial_fit(X)
            elif action == 1 and step % 5 == 0:
                m.fit(X)
        except ValueError as e:
            assert "changed since the model was fitted" in str(e)
        m.save(tmp_path / "m.safetensors")
        loaded = pyae.load(tmp_path / "m.safetensors")
        for method in ("transform", "reconstruct", "score_samples"):
            np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(m, method)(X),
                                          err_msg=f"step {step} {method}")
