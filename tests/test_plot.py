"""Figures: structure of the denoising figure and the loss curve."""

import numpy as np
import pytest

from pyae import plot

pytest.importorskip("matplotlib")


def test_denoising_figure_has_three_rows_and_the_title(rng):
    X = rng.random((12, 784), dtype=np.float32)
    fig = plot.denoising_figure(X, X * 0.5, X * 0.9, n=10)
    assert fig._suptitle.get_text() == ("Original images: top rows, Corrupted Input: middle "
                                        "rows, Denoised Input: third rows")
    axes = fig.get_axes()
    assert len(axes) == 30
    first_column = [ax for ax in axes if ax.get_subplotspec().colspan.start == 0]
    shown = [ax.get_images()[0].get_array() for ax in first_column]
    np.testing.assert_allclose(shown[0], X[0].reshape(28, 28))
    np.testing.assert_allclose(shown[1], (X[0] * 0.5).reshape(28, 28))
    np.testing.assert_allclose(shown[2], (X[0] * 0.9).reshape(28, 28), rtol=1e-6)


def test_figure_checks_shapes(rng):
    with pytest.raises(ValueError, match="image_shape"):
        plot.denoising_figure(rng.random((3, 10)), rng.random((3, 10)), rng.random((3, 10)))
    fig = plot.denoising_figure(*(rng.random((3, 10)),) * 3, image_shape=(2, 5))
    assert len(fig.get_axes()) == 9


def test_loss_curve():
    fig = plot.loss_curve({"loss": [0.3, 0.2, 0.1], "val_loss": [0.35, 0.25, 0.2]})
    (ax,) = fig.get_axes()
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="no 'loss'"):
        plot.loss_curve({"loss": []})


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pyae\[plot\]"):
        plot.loss_curve({"loss": [1.0]})


@pytest.fixture(scope="module")
def vae2():
    import pyae

    X = np.random.default_rng(0).random((200, 16), dtype=np.float32)
    return pyae.VAE(hidden=(8,), latent_dim=2, epochs=2, verbose=False).fit(X), X


def test_image_grid(rng):
    fig = plot.image_grid(rng.random((10, 784)), cols=4)
    assert len(fig.get_axes()) == 12
    assert sum(len(ax.get_images()) for ax in fig.get_axes()) == 10


def test_latent_scatter_and_manifold(vae2):
    v, X = vae2
    fig = plot.latent_scatter(v, X, np.arange(200) % 10)
    offsets = fig.get_axes()[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, v.transform(X), rtol=1e-6)
    fig = plot.manifold(v, n=15)
    canvas = fig.get_axes()[0].get_images()[0].get_array()
    assert canvas.shape == (15 * 4, 15 * 4)


def test_2d_plots_need_2d_latents(rng):
    import pyae

    v = pyae.VAE(hidden=(8,), latent_dim=3, epochs=1, verbose=False).fit(
        rng.random((50, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="latent_dim=2"):
        plot.manifold(v)
