"""``pyae demo``: a denoising autoencoder on hand-written digits, end to end.

MNIST where it is found (8,000 training / 2,000 held-out digits of its test
split when only that is present); offline, scikit-learn's bundled 8x8
digits. The fallback's model size, learning rate and early stopping were
chosen on its training split only (``benchmarks/choose_demo_fallback.py``):
it trains until the loss on a quarter of the training digits stops
improving, a few seconds. The held-out digits are only reported.

"Recognisable" is measured, not eyeballed: a logistic regression trained on
the clean training digits classifies the held-out digits clean, corrupted
and denoised.
"""

from __future__ import annotations

import os
import time

import numpy as np

FULL_MNIST = ("for full MNIST: put its IDX files in $PYAE_DATA_DIR/mnist/, or run once with "
              "network access (they are downloaded to ~/.cache/pyae/mnist/)")

# Per data set: the model and how long it trains (epochs=None: early stopping).
SETTINGS = {
    "mnist": dict(hidden=(256, 64), batch_size=128, learning_rate=3e-3, epochs=60),
    "digits": dict(hidden=(128, 32), batch_size=64, learning_rate=3e-3, epochs=None,
                   max_epochs=3000, patience=50),
}


def psnr(mse):
    return 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")


def report(clean, corrupted, denoised):
    mse_c = float(((corrupted - clean) ** 2).mean())
    mse_d = float(((denoised - clean) ** 2).mean())
    print(f"held-out MSE to the clean images: corrupted {mse_c:.5f} (PSNR {psnr(mse_c):.2f} dB)"
          f" -> denoised {mse_d:.5f} (PSNR {psnr(mse_d):.2f} dB)")


def train(kind, X_train, noise, seed, epochs=None, learning_rate=None, verbose=False):
    """The demo's denoising autoencoder, trained on X_train."""
    import pyae

    s = SETTINGS[kind]
    model = pyae.DenoisingAutoencoder(hidden=s["hidden"], noise=noise,
                                      batch_size=s["batch_size"], seed=seed, verbose=verbose,
                                      learning_rate=learning_rate or s["learning_rate"])
    epochs = epochs or s["epochs"]
    if epochs is not None:
        model.set_params(epochs=epochs)
        return model.fit(X_train)
    # Early stopping on a quarter of the training digits, never the held-out ones.
    cut = int(0.75 * len(X_train))
    model.set_params(epochs=s["max_epochs"], patience=s["patience"])
    return model.fit(X_train[:cut], validation_data=X_train[cut:])


def recognised(X_train, y_train, X_test, y_test, images):
    """Accuracy of a classifier of the clean training digits on each of images."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=300).fit(X_train, y_train)
    return {name: clf.score(x, y_test) for name, x in images.items()}


def run(out, seed=0, epochs=None, learning_rate=None, verbose=False):
    """Trains, prints the figures of merit and writes the figures and model to ``out``."""
    import warnings

    import pyae

    from .datasets import load_digits_train_test

    X_train, y_train, X_test, y_test, source = load_digits_train_test(seed)
    kind = "mnist" if X_train.shape[1] == 784 else "digits"
    noise = pyae.noise.Gaussian(std=0.5)
    hidden = SETTINGS[kind]["hidden"]
    D = X_train.shape[1]
    print(f"data: {source}")
    if kind != "mnist":
        print(FULL_MNIST)
    print(f"model: {D}-{'-'.join(map(str, hidden + hidden[-2::-1]))}-{D} denoising autoencoder, "
          f"{noise}, MSE, Adam; {pyae.get_num_threads()} threads ({pyae.simd_level()})")
    t = time.perf_counter()
    dae = train(kind, X_train, noise, seed, epochs, learning_rate, verbose)
    elapsed = time.perf_counter() - t
    n_epochs = len(dae.history_["loss"])
    stopped = "" if epochs or SETTINGS[kind]["epochs"] else " (early stopping)"
    print(f"trained {n_epochs} epochs{stopped} in {elapsed:.1f} s")
    corrupted = noise(X_test, seed=seed + 1)
    denoised = dae.denoise(corrupted)
    report(X_test, corrupted, denoised)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on MNIST
            acc = recognised(X_train, y_train, X_test, y_test,
                             {"clean": X_test, "corrupted": corrupted, "denoised": denoised})
        print("a classifier of the clean training digits recognises the held-out ones: "
              + ", ".join(f"{k} {100 * v:.1f}%" for k, v in acc.items()))
    except ImportError:
        pass
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "dae.safetensors")
    dae.save(model_path)
    print(f"model saved to {model_path}")
    try:
        from . import plot

        for fig, name in ((plot.denoising_figure(X_test, corrupted, denoised, n=10),
                           "denoising.png"),
                          (plot.loss_curve(dae.history_, "Denoising autoencoder loss"),
                           "loss.png")):
            path = os.path.join(out, name)
            fig.savefig(path, dpi=120)
            print(f"figure written to {path}")
    except ImportError as e:
        print(f"figures skipped: {e}")
    return dae
