"""Denoising MNIST with self-generated noise: the lecture's figure.

Clean digits are corrupted afresh every batch (inside pyae's training step)
and the network learns to output the clean image. One model per noise kind:
Gaussian, salt-and-pepper and masking. Each writes the lecture's figure:
original images on top, the corrupted input in the middle, the denoised
output in the third row. MNIST where pyae finds it (PYAE_DATA_DIR), else
scikit-learn's 8x8 digits.

    python examples/denoising_mnist.py [--quick] [--out FOLDER]
"""

import pyae
from pyae import plot
from pyae.datasets import load_digits_train_test

from _args import parse, save

args = parse(__doc__.splitlines()[0])
X_train, _, X_test, _, source = load_digits_train_test(seed=0)
if args.quick:
    X_train = X_train[:1000]
print(f"data: {source}")
mnist = X_train.shape[1] == 784
NOISES = {"gaussian": pyae.noise.Gaussian(std=0.5),
          "salt_and_pepper": pyae.noise.SaltAndPepper(amount=0.3),
          "masking": pyae.noise.Masking(fraction=0.5)}
for name, noise in NOISES.items():
    dae = pyae.DenoisingAutoencoder(hidden=(256, 64) if mnist else (128, 32), noise=noise,
                                    learning_rate=3e-3, epochs=3 if args.quick else 40,
                                    seed=0, verbose=False)
    dae.fit(X_train)
    corrupted = noise(X_test, seed=1)  # fresh draws, not the training ones
    denoised = dae.denoise(corrupted)
    mse_in = float(((corrupted - X_test) ** 2).mean())
    mse_out = float(((denoised - X_test) ** 2).mean())
    print(f"{noise}: held-out MSE {mse_in:.4f} corrupted -> {mse_out:.4f} denoised")
    save(plot.denoising_figure(X_test, corrupted, denoised, n=10), args, f"denoising_{name}.png")
