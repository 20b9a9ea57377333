"""How `pyae demo` trains when MNIST is absent (scikit-learn's 8x8 digits):
the model size, the learning rate and the number of epochs, chosen on the
demo's training split only (80% of the digits, by the demo's own seeded
split), of which 25% is held out here as validation. The demo's held-out
20% is never looked at.

    python benchmarks/choose_demo_fallback.py

For each candidate it prints the validation MSE of the denoised images
(Gaussian noise, std 0.5, as in the demo), the accuracy on them of a
logistic regression trained on the clean training digits ("recognisable
digits", next to its accuracy on the clean and on the corrupted images),
the epochs early stopping ran, and the training time.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression

import pyae
from pyae.datasets import load_digits

X, y = load_digits()
order = np.random.default_rng(0).permutation(len(X))  # the demo's split, seed 0
train = order[:int(0.8 * len(X))]
fit_rows, val_rows = train[:int(0.75 * len(train))], train[int(0.75 * len(train)):]
X_fit, y_fit, X_val, y_val = X[fit_rows], y[fit_rows], X[val_rows], y[val_rows]

clf = LogisticRegression(max_iter=2000).fit(X_fit, y_fit)
noise = pyae.noise.Gaussian(std=0.5)
corrupted = noise(X_val, seed=1)
print(f"CPU threads {pyae.get_num_threads()} ({pyae.simd_level()}); {len(X_fit)} fit / "
      f"{len(X_val)} validation digits")
print(f"classifier accuracy: clean {clf.score(X_val, y_val):.3f}, "
      f"corrupted {clf.score(corrupted, y_val):.3f}")
print(f"{'hidden':>10} {'lr':>6} {'epochs':>7} {'val MSE':>9} {'accuracy':>9} {'seconds':>8}")
for hidden in ((32, 16), (64, 32), (128, 32), (256, 64)):
    for lr in (1e-3, 3e-3):
        dae = pyae.DenoisingAutoencoder(hidden=hidden, noise=noise, learning_rate=lr,
                                        epochs=3000, patience=50, batch_size=64, seed=0,
                                        verbose=False)
        t = time.perf_counter()
        dae.fit(X_fit, validation_data=X_val)
        seconds = time.perf_counter() - t
        denoised = dae.denoise(corrupted)
        mse = float(((denoised - X_val) ** 2).mean())
        print(f"{str(hidden):>10} {lr:>6g} {len(dae.history_['loss']):>7} {mse:>9.5f} "
              f"{clf.score(denoised, y_val):>9.3f} {seconds:>8.1f}")
