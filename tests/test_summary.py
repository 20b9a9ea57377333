"""model.summary() and repr: the layers, neurons per layer and parameter
counts a learner checks by hand (the 4-3-2-3-4 exercise), from the same
layer table the network runs."""

import numpy as np
import pytest

import pyae


def test_the_4_3_2_3_4_exercise_counts_by_hand():
    m = pyae.Autoencoder(hidden=(3, 2))
    text = m.summary(n_features=4, print_fn=str)
    # weights 4*3 + 3*2 + 2*3 + 3*4 = 36, biases 3 + 2 + 3 + 4 = 12
    assert "parameters: 48 (weights 36, biases 12)" in text
    assert "neurons per layer: 4-3-2-3-4" in text
    assert [line.split()[-1] for line in text.splitlines()[4:8]] == ["15", "8", "9", "16"]


def test_summary_matches_the_fitted_network():
    X = np.random.default_rng(0).random((30, 6), dtype=np.float32)
    for model in (pyae.Autoencoder(hidden=(4, 2), tied_weights=True),
                  pyae.DenoisingAutoencoder(hidden=(5,)), pyae.VAE(hidden=(5,), latent_dim=2)):
        model.set_params(epochs=1, verbose=False).fit(X)
        text = model.summary(print_fn=str)
        assert f"parameters: {model.network_.table.num_params:,} " in text
        assert text == model.summary(n_features=6, print_fn=str)
    assert "latent head (mu, log var)" in text and "neurons per layer: 6-5-2-5-6" in text


def test_summary_prints_by_default(capsys):
    assert pyae.Autoencoder(hidden=(3,)).summary(n_features=5) is None
    assert "neurons per layer: 5-3-5" in capsys.readouterr().out


def test_summary_before_fit_needs_the_width():
    with pytest.raises(pyae.NotFittedError, match="n_features"):
        pyae.Autoencoder().summary()
    with pytest.raises(ValueError, match="n_features"):
        pyae.Autoencoder().summary(n_features=0)


def test_repr_says_what_a_fitted_model_is():
    m = pyae.Autoencoder(hidden=(3, 2), verbose=False, epochs=1)
    assert repr(m) == "Autoencoder(epochs=1, hidden=(3, 2), verbose=False)"
    m.fit(np.random.default_rng(0).random((10, 4), dtype=np.float32))
    assert repr(m).endswith("# fitted: 4-3-2-3-4, 48 parameters")
