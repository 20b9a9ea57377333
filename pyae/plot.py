"""Figures (needs the optional extra: pip install 'pyae[plot]').

All functions return a matplotlib Figure and never call ``plt.show``;
save with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["denoising_figure", "loss_curve", "image_grid", "latent_scatter", "manifold"]

DENOISING_TITLE = ("Original images: top rows, Corrupted Input: middle rows, "
                   "Denoised Input: third rows")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "pyae.plot needs matplotlib: install the extra with pip install 'pyae[plot]'"
        ) from None
    return plt


def _as_images(X, name, image_shape):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        return X
    if X.ndim != 2:
        raise ValueError(f"{name} must be (n, features) or (n, height, width), got {X.shape}")
    if image_shape is None:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(f"{name} has {X.shape[1]} features, not a square image; "
                             "pass image_shape=(height, width)")
        image_shape = (side, side)
    return X.reshape(len(X), *image_shape)


def denoising_figure(original, corrupted, denoised, n=10, image_shape=None):
    """Three rows of n images: originals, their corrupted inputs, and the
    network's denoised outputs."""
    rows = [_as_images(a, name, image_shape) for a, name in
            ((original, "original"), (corrupted, "corrupted"), (denoised, "denoised"))]
    count = min(n, *(len(r) for r in rows))
    if count < 1:
        raise ValueError("need at least one image in each row")
    plt = _pyplot()
    fig, axes = plt.subplots(3, count, figsize=(1.2 * count, 4.0), squeeze=False)
    for r, images in enumerate(rows):
        for c in range(count):
            ax = axes[r][c]
            ax.imshow(images[c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_axis_off()
    fig.suptitle(DENOISING_TITLE, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def loss_curve(history, title="Training loss"):
    """Per-epoch loss (and val_loss when recorded) from a model's history_."""
    losses = history.get("loss", []) if isinstance(history, dict) else []
    if not losses:
        raise ValueError("history has no 'loss' values to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, label="train loss")
    if history.get("val_loss"):
        ax.plot(epochs[: len(history["val_loss"])], history["val_loss"], label="held-out loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def image_grid(images, cols=8, image_shape=None, title=None):
    """A grid of images, e.g. ``vae.sample(64)``."""
    imgs = _as_images(images, "images", image_shape)
    if len(imgs) < 1:
        raise ValueError("need at least one image")
    rows = max(1, math.ceil(len(imgs) / cols))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig


def latent_scatter(vae, X, labels, title="Latent space (posterior means)"):
    """Posterior means of X in a 2-D latent space, coloured by label."""
    if vae.latent_dim != 2:
        raise ValueError(f"latent_scatter needs latent_dim=2, the model has {vae.latent_dim}")
    Z = vae.transform(X)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(Z[:, 0], Z[:, 1], c=np.asarray(labels), cmap="tab10", s=4)
    fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def manifold(vae, n=15, image_shape=None, title="Decoded latent manifold"):
    """Decoder means over an n x n grid of standard-normal quantiles (the
    prior's equal-probability grid) of a 2-D latent space."""
    from statistics import NormalDist

    if vae.latent_dim != 2:
        raise ValueError(f"manifold needs latent_dim=2, the model has {vae.latent_dim}")
    q = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)], dtype=np.float32)
    grid = np.array([[x, y] for y in q[::-1] for x in q], dtype=np.float32)
    imgs = _as_images(vae.inverse_transform(grid), "decoded", image_shape)
    h, w = imgs.shape[1:]
    canvas = imgs.reshape(n, n, h, w).transpose(0, 2, 1, 3).reshape(n * h, n * w)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    ax.set_title(title)
    return fig
