"""Figures (needs the optional extra: pip install 'pyae[plot]').

All functions return a matplotlib Figure and never call ``plt.show``;
save with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["denoising_figure", "loss_curve"]

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
