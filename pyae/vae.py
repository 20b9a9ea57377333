"""Variational autoencoders.

The encoder maps x to the mean and log-variance of a diagonal Gaussian
q(z|x); training samples z = mu + exp(logvar / 2) * eps and minimises, per
sample, the reconstruction negative log-likelihood plus beta times
KL(q(z|x) || N(0, I)) -- for beta = 1 the negative evidence lower bound
(ELBO), in nats. The whole step (encoder, reparameterisation with Philox
noise, decoder, both losses, backward, Adam) is one C++ call per batch.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core, _dask
from ._backends import output_array
from ._dask import lazy_rows
from ._enums import ACTIVATIONS, LOSSES
from ._estimator import BaseAutoencoder, _non_negative, _seed
from ._outliers import SCORES
from ._model_file import MODEL_CLASSES
from ._validation import layer_width, positive_int
from .autoencoder import common_parameters_doc

__all__ = ["VAE"]

_LOG_2PI = math.log(2 * math.pi)
_EVAL_STREAM = 2**63  # Philox stream for evaluation draws (training uses step counts)
_IWAE_K = 20  # importance samples of the "iwae" anomaly score


class VAE(BaseAutoencoder):
    __doc__ = """Variational autoencoder: D -> hidden -> (mu, log sigma^2) of a
    latent_dim Gaussian -> mirrored decoder -> D.

    Training samples z = mu + exp(logvar / 2) * eps and minimises, per sample,
    the reconstruction negative log-likelihood plus beta times
    KL(q(z|x) || N(0, I)): for beta = 1 the negative ELBO, in nats.

    Parameters
    ----------
    hidden : sequence of int, default=(400,)
        Widths of the encoder's layers before the latent head; the decoder
        mirrors them.
    latent_dim : int >= 1, default=20
    loss : {"bce", "gaussian"}, default="bce"
        The decoder: Bernoulli (data in [0, 1], sigmoid output) or a
        unit-variance Gaussian (squared error).
    beta : float >= 0, default=1.0
        Weight of the KL term.
    """ + common_parameters_doc(activation="relu", output_activation="sigmoid",
                                anomaly_score="combined")

    _LOSSES = {"bce": LOSSES["bce"], "gaussian": LOSSES["mse"]}
    _UNBOUNDED_LOSS = "gaussian"
    PARAMETERS = {"latent_dim": layer_width, "beta": _non_negative}

    def __init__(self, hidden=(400,), latent_dim=20, activation="relu",
                 output_activation="sigmoid", loss="bce", beta=1.0, optimizer="adam",
                 learning_rate=1e-3, batch_size=128, epochs=10, momentum=0.9, beta1=0.9,
                 beta2=0.999, eps=1e-8, shuffle=True, patience=None, tol=0.0, verbose="auto",
                 seed=0, device="cpu",
                 contamination="auto", anomaly_score="combined", scale=None,
                 precision="fp32"):
        self._store_params(locals())

    def _layer_table(self, n_features, cfg):
        return _core.LayerTable.vae(n_features, list(cfg["hidden"]), cfg["latent_dim"],
                                    ACTIVATIONS[cfg["activation"]],
                                    ACTIVATIONS[cfg["output_activation"]])

    def _configure_network(self, net, cfg):
        self._eps_seed = int(self._shuffle_rng.integers(2**63))
        self._beta_ = cfg["beta"]
        net.set_latent_seed(self._eps_seed)

    def _backend_config(self):
        cfg = super()._backend_config()
        cfg.update(beta=self._checked_config()["beta"], latent_seed=self._eps_seed)
        return cfg

    def _apply_live_parameters(self, cfg):
        super()._apply_live_parameters(cfg)
        if cfg["beta"] != self._beta_:
            self.network_.set_beta(cfg["beta"])
            self._beta_ = cfg["beta"]
            self._sync_to_host()
            self._backend_ = None  # a GPU step bakes beta in: made afresh

    def _validation_rows(self, X_val, first_row):
        """NLL + beta * KL of each held-out row, one fixed draw of eps."""
        X_val = self._scale_in(X_val)  # the helpers below take scaled rows
        mu, logvar = self._posterior(X_val)
        z = mu + np.exp(0.5 * logvar) * self._normal(mu.shape, 1, 0, first_row * mu.shape[1])
        return (self._reconstruction_nll(z.astype(np.float32), self._place(X_val))
                + self._checked_config()["beta"] * _kl(mu, logvar))

    # ------------------------------------------------------------- helpers
    # The networks run on the model's backend; the Monte Carlo and IWAE
    # arithmetic around them is NumPy on the host, and results go back to the
    # caller's side.
    def _normal(self, shape, seed, stream_offset, first_index=0):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        out = np.empty(int(np.prod(shape)), dtype=np.float32)
        _core.philox_draws(out, True, int(seed) & (2**64 - 1), _EVAL_STREAM + stream_offset,
                           first_index)
        return out.reshape(shape)

    def _host_input(self, X, name="X"):
        """X validated and scaled, as a host array (GPU arrays are copied
        over): what _posterior, _place and _data take."""
        self._check_fitted()
        backend = self._backend()
        return backend.to_host(self._scale_in(
            backend.input(X, name, self.n_features_in_, type(self).__name__)))

    def _place(self, X):
        """Scaled rows X on the model's backend."""
        return self._backend().input(X, "X", self.n_features_in_, type(self).__name__)

    def _posterior(self, X):
        backend = self._backend()
        ml = backend.to_host(backend.forward(self._place(X), 0, self._layout_.decoder_start))
        Z = self._layout_.code_width
        return ml[:, :Z], ml[:, Z:]

    def _reconstruction_nll(self, z, Xd):
        """Per-sample -log p(x | z); Xd already placed (_place), once for
        all the draws of a call."""
        backend = self._backend()
        zd = backend.input(np.ascontiguousarray(z, dtype=np.float32), "z",
                           self._layout_.code_width, type(self).__name__)
        rows = backend.row_losses(zd, Xd, self._layout_.decoder_start)
        return np.asarray(backend.to_host(rows), dtype=np.float64)

    def _data(self, X, name="X"):
        X = self._host_input(X, name)
        if self.__dict__.get("scaler_") is not None and self._fitted_config_["loss"] == "bce":
            # New rows may leave the training range [0, 1] of a minmax scaling;
            # the Bernoulli likelihood is of the nearest value inside it.
            X = np.clip(X, 0.0, 1.0)
        return self._check_training_data(X, self._fitted_config_)

    # ------------------------------------------------------------------ API
    @lazy_rows(_dask.FEATURES_TO_CODES, row_keyed=True)
    def transform(self, X, sample=False, seed=0, out=None, first_row=0):
        """Posterior mean mu(x), (n, latent_dim); sample=True draws z ~ q(z|x)
        (each row's draw keyed by its index: first_row is X's first's)."""
        if not isinstance(sample, (bool, np.bool_)):
            raise ValueError(f"sample must be True or False, got {sample!r}")
        X_in, X = X, self._host_input(X)
        mu, logvar = self._posterior(X)
        if sample:
            mu = mu + np.exp(0.5 * logvar) * self._normal(
                mu.shape, seed, 1, _seed(first_row, "first_row") * mu.shape[1])
        out = output_array(out, mu.shape)
        out[...] = mu
        return self._backend().to_caller(out, X_in)

    def sample(self, n, seed=0):
        """n new samples: z ~ N(0, I) through the decoder (its mean)."""
        self._check_fitted()
        n = positive_int(n, "n")
        return self.inverse_transform(self._normal((n, self._layout_.code_width), seed, 2))

    def interpolate(self, x_a, x_b, steps=10):
        """Decoded points on the line between the posterior means of x_a and x_b."""
        steps = positive_int(steps, "steps")
        x = np.stack([np.asarray(x_a).reshape(-1), np.asarray(x_b).reshape(-1)])
        mu = self.transform(x)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.inverse_transform((1 - t) * mu[0] + t * mu[1])

    @lazy_rows(_dask.FEATURES_TO_ONE, dtype=np.float64)
    def elbo(self, X, n_samples=1, seed=0):
        """Per-sample evidence lower bound in nats: E_q[log p(x|z)] (Monte
        Carlo over n_samples draws) minus the closed-form KL."""
        X_in, X = X, self._data(X)
        n_samples = positive_int(n_samples, "n_samples")
        mu, logvar = self._posterior(X)
        nll = np.zeros(X.shape[0])
        # The same draws for every row (n_samples, Z): a row's estimate does
        # not depend on the rows scored with it.
        eps = self._normal((n_samples, 1, mu.shape[1]), seed, 3)
        Xd = self._place(X)
        for s in range(n_samples):
            z = (mu + np.exp(0.5 * logvar) * eps[s]).astype(np.float32)
            nll += self._reconstruction_nll(z, Xd)
        return self._backend().to_caller(-nll / n_samples - _kl(mu, logvar), X_in)

    @lazy_rows(_dask.FEATURES_TO_ONE, dtype=np.float64)
    def log_likelihood(self, X, k=100, seed=0, batch_size=256):
        """Per-sample importance-weighted estimate of log p(x) (IWAE, Burda et
        al. 2016) with k samples from q(z|x); >= the ELBO in expectation and
        non-decreasing in k."""
        X_in, X = X, self._data(X)
        k = positive_int(k, "k")
        batch_size = positive_int(batch_size, "batch_size")
        out = np.empty(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            xb = X[start:start + batch_size]
            mu, logvar = (a.astype(np.float64) for a in self._posterior(xb))
            eps = np.broadcast_to(self._normal((k, 1, mu.shape[1]), seed, 4), (k, *mu.shape)) \
                .astype(np.float64)  # the same k draws for every row, as in elbo
            z = mu + np.exp(0.5 * logvar) * eps                        # (k, B, Z)
            nll = self._reconstruction_nll(z.reshape(-1, mu.shape[1]).astype(np.float32),
                                           self._place(np.tile(xb, (k, 1)))).reshape(k, -1)
            log_prior = -0.5 * (z**2 + _LOG_2PI).sum(-1)
            log_q = -0.5 * (eps**2 + _LOG_2PI + logvar).sum(-1)
            log_w = -nll + log_prior - log_q                            # (k, B)
            top = log_w.max(axis=0)
            out[start:start + batch_size] = top + np.log(np.mean(np.exp(log_w - top), axis=0))
        return self._backend().to_caller(out, X_in)

    _SCORES = {**SCORES,
               "reconstruction": "-log p(x | z = mu): the reconstruction term alone, at the "
                                 "posterior mean",
               "elbo": "the negative ELBO (10 fixed Monte Carlo draws), in nats",
               "iwae": f"the negative importance-weighted bound, k={_IWAE_K} fixed draws"}

    _OBJECTIVE_SCORE = "elbo"

    def _model_scores(self, X, kind):
        if kind == "elbo":
            return -self._host(self.elbo(X, n_samples=10))
        if kind == "iwae":
            return -self._host(self.log_likelihood(X, k=_IWAE_K))
        return super()._model_scores(X, kind)


def _kl(mu, logvar):
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)


MODEL_CLASSES["VAE"] = VAE
