"""The variational autoencoder: what it is, how to train it, how to use it.

The encoder gives a mean mu and a log-variance log sigma^2 for each input;
the code is drawn as z = mu + exp(log sigma^2 / 2) * eps with eps ~ N(0, I)
(the reparameterisation, so gradients flow through mu and sigma), and the
loss is the reconstruction term plus the KL divergence of N(mu, sigma^2)
from the prior N(0, I): the negative evidence lower bound (ELBO). Because
the codes are pulled towards the prior, decoding draws from N(0, I) gives new
digits. With a 2-D code the whole latent space can be drawn.

Figures: samples from the prior, the decoded 2-D manifold, the posterior
means coloured by digit, an interpolation between two digits; printed and
plotted: the ELBO against the importance-weighted bound for growing k
(log p(x) >= IWAE_k >= ELBO).

    python examples/vae.py [--quick] [--out FOLDER]
"""

import matplotlib
import numpy as np

import pyae
from pyae import plot
from pyae.datasets import load_digits_train_test

from _args import parse, save

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

args = parse(__doc__.splitlines()[0])
X_train, _, X_test, y_test, source = load_digits_train_test(seed=0)
if args.quick:
    X_train = X_train[:1000]
print(f"data: {source}")
side = int(round(X_train.shape[1] ** 0.5))

vae = pyae.VAE(hidden=(400,) if side == 28 else (64,), latent_dim=2, loss="bce",
               learning_rate=1e-3, epochs=3 if args.quick else 60, seed=0, verbose=False)
vae.fit(X_train, validation_data=X_test)
vae.summary()
print(f"negative ELBO per image (nats): {vae.history_['loss'][-1]:.1f} train, "
      f"{vae.history_['val_loss'][-1]:.1f} held out")

save(plot.image_grid(vae.sample(64, seed=0), cols=8, title="Samples from the prior"),
     args, "vae_samples.png")
save(plot.manifold(vae, n=15), args, "vae_manifold.png")
save(plot.latent_scatter(vae, X_test, y_test), args, "vae_latent.png")

# Interpolation: decode the straight line between two digits' posterior means.
a, b = X_test[np.flatnonzero(y_test == 1)[0]], X_test[np.flatnonzero(y_test == 7)[0]]
mu = vae.transform(np.stack([a, b]))
steps = np.linspace(0.0, 1.0, 10, dtype=np.float32)[:, None]
save(plot.image_grid(vae.inverse_transform((1 - steps) * mu[0] + steps * mu[1]), cols=10,
                     title="Interpolating from a 1 to a 7 in latent space"),
     args, "vae_interpolation.png")

# The ELBO bounds log p(x) from below; the importance-weighted bound with k
# samples is tighter as k grows (Burda et al. 2016).
rows = X_test[:200] if args.quick else X_test[:1000]
ks = [1, 10, 100] if args.quick else [1, 5, 10, 50, 100, 500]
elbo = float(vae.elbo(rows, n_samples=10).mean())
iwae = [float(vae.log_likelihood(rows, k=k).mean()) for k in ks]
for k, value in zip(ks, iwae):
    print(f"IWAE bound, k={k:>3}: {value:.2f} nats per image (ELBO {elbo:.2f})")
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ks, iwae, marker="o", label="importance-weighted bound")
ax.axhline(elbo, color="gray", linestyle="--", label="ELBO")
ax.set(xscale="log", xlabel="k (importance samples)", ylabel="nats per image",
       title="Bounds on log p(x), held-out digits")
ax.legend()
save(fig, args, "vae_bounds.png")
