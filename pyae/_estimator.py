"""The base of every pyae model: declared parameters and their checks,
building the network from the model's layer table, the device it runs on,
the training loop with validation and early stopping, and the inference
primitives. Autoencoder, DenoisingAutoencoder and VAE are thin siblings on
top: each names its parameters, its layer table and what it adds.

The network runs through a backend (pyae._backends: the same methods on the
CPU and on a GPU), so nothing here or in the model classes branches on the
device.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import threading
from typing import NamedTuple

import numpy as np

from . import _core, _dask, _distributed
from ._backends import BACKENDS, input_array
from ._dask import lazy_rows
from ._device import check_device
from ._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS
from . import _scaling
from ._outliers import OutlierDetection, contamination_check
from ._sklearn_compat import EstimatorBase, NotFittedBase
from ._validation import choice, layer_width, positive_float, positive_float32, positive_int

__all__ = ["BaseAutoencoder", "NotFittedError"]

# A few float32 ulps of slack for loss="bce": scalers such as MinMaxScaler
# on float32 data round to values like 1.0000001.
_BCE_SLACK = 1e-6
# Activations that zero (or nearly zero) half their inputs: He's gain of 2.
_RECTIFIERS = {"relu", "leaky_relu", "elu", "gelu", "silu"}


class Layout(NamedTuple):
    """The layer table's numbers the inference calls need, read once."""
    n_layers: int
    decoder_start: int
    code_width: int


class NotFittedError(RuntimeError, NotFittedBase):
    """The model is used before fit / partial_fit / load. Also a ValueError
    and AttributeError, and scikit-learn's NotFittedError where installed."""


def init_weights(net, rng, draw=True):
    """Glorot uniform weights (He uniform before a rectifier); biases zero.
    ``draw=False`` (loading) only moves ``rng`` past the draws, one 64-bit
    output per weight, so the seeds derived from it afterwards are the same."""
    params = net.mutable_params()
    for spec in net.table.layers:
        if spec.owns_weight:
            fan_in, fan_out = spec.d_in, spec.d_out
            n = fan_in * fan_out
            if not draw:
                rng.bit_generator.advance(n)
                continue
            gain = 2.0 if spec.activation.name in _RECTIFIERS else 1.0
            limit = math.sqrt(3.0 * gain * 2.0 / (fan_in + fan_out))
            off = spec.weight_offset
            params[off:off + n] = rng.uniform(-limit, limit, n).astype(np.float32)


# ---------------------------------------------------------------- checks
def _hidden(value, name):
    hidden = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of layer widths, got {value!r}") from None
    return tuple(layer_width(h, "every hidden width") for h in hidden)


def _unit_interval(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _seed(value, name):
    if value is not None and (isinstance(value, bool) or
                              not isinstance(value, (int, np.integer)) or value < 0):
        raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")
    return value


def _one_of(options):
    return lambda value, name: choice(value, name, options)


def _passed(value, name):
    return value


# The constraints of the parameters every model has; each model class adds
# its own (PARAMETERS below). A check returns the value to use or raises.
COMMON_PARAMETERS = {
    "hidden": _hidden,
    "activation": _one_of(ACTIVATIONS),
    "output_activation": _one_of(ACTIVATIONS),
    "optimizer": _one_of(OPTIMIZERS),
    "learning_rate": positive_float,
    "batch_size": positive_int,
    "epochs": positive_int,
    "momentum": _unit_interval,
    "beta1": _unit_interval,
    "beta2": _unit_interval,
    "eps": positive_float32,
    "shuffle": _passed,
    "patience": _optional(positive_int),
    "tol": _non_negative,
    "verbose": _passed,
    "seed": _seed,
    "device": lambda value, name: check_device(value),
    "contamination": contamination_check,
    "scale": _scaling.scale_check,
    "precision": _one_of(PRECISIONS),
}


# Parameters the network is built from: after fit, changing one makes
# partial_fit raise (fit rebuilds), and files keep the fitted value. Every
# other parameter takes effect at the next call.
STRUCTURAL = ("hidden", "activation", "output_activation", "loss", "tied_weights", "optimizer",
              "momentum", "beta1", "beta2", "eps", "latent_dim", "scale")


class BaseAutoencoder(OutlierDetection, EstimatorBase):
    """Shared machinery; see Autoencoder for the parameters.

    Threads: training calls (fit, partial_fit) on one model are serialised
    by a per-model lock; inference from another thread while the model
    trains raises RuntimeError (it would read weights mid-update), and a
    training step waits for inference calls already running; concurrent
    inference is safe. Changing a setting (``set_params``, e.g.
    ``precision``) while other threads use the model is not: a score made
    of several passes may run some of them under each value. Training is
    all or nothing: any exception
    in fit or partial_fit (divergence, KeyboardInterrupt, MemoryError)
    leaves the model exactly as it was before the call.
    """

    _LOSSES = LOSSES        # the loss names this model accepts -> the C++ loss
    _UNBOUNDED_LOSS = "mse"  # the loss to suggest for data outside [0, 1]
    PARAMETERS: dict = {}   # this model's own parameter checks (with COMMON_PARAMETERS)
    _backend_ = None        # the CpuBackend or GpuBackend once fitted
    _trainer_ = None        # the thread running fit/partial_fit on this model

    # ----------------------------------------------------------- parameters
    def _store_params(self, values: dict):
        """__init__'s job, as scikit-learn wants it: store every constructor
        argument unchanged under its own name (checks come at fit)."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    def _parameter_checks(self) -> dict:
        """Parameter name -> its check (returns the value to use or raises)."""
        return {**COMMON_PARAMETERS, "loss": _one_of(self._LOSSES),
                "anomaly_score": _one_of(self._SCORES), **self.PARAMETERS}

    def _checked_config(self) -> dict:
        """Every parameter checked (before any state changes): name -> value."""
        checks = self._parameter_checks()
        cfg = {name: checks[name](getattr(self, name), name) for name in self._get_param_names()}
        if cfg["loss"] == "bce" and cfg["output_activation"] != "sigmoid":
            raise ValueError("loss='bce' needs output_activation='sigmoid'")
        if cfg["precision"] != "fp32" and cfg["device"] != "cpu":
            raise ValueError(f"precision={cfg['precision']!r} runs on the CPU only; "
                             "use precision='fp32' with device='cuda'")
        return cfg

    def _layer_table(self, n_features: int, cfg: dict):
        """This model's layer table (the one description of its architecture)."""
        raise NotImplementedError

    def _configure_network(self, net, cfg):
        """Model-specific set-up of a new network (noise, latent seed)."""

    # ------------------------------------------------------------ building
    def _build(self, n_features: int, cfg: dict, initialise: bool = True, seed=None) -> None:
        """A new network; ``initialise=False`` (loading, which overwrites every
        parameter and the shuffling state) skips drawing the initial weights.
        ``seed``: instead of self.seed (a distributed fit's agreed seed)."""
        table = self._layer_table(n_features, cfg)
        net = _core.Network(
            table, self._LOSSES[cfg["loss"]], OPTIMIZERS[cfg["optimizer"]], cfg["learning_rate"],
            cfg["beta1"], cfg["beta2"], cfg["eps"], cfg["momentum"], cfg.get("beta", 1.0))
        rng = np.random.default_rng(self.seed if seed is None else seed)
        init_weights(net, rng, draw=initialise)
        self.network_ = net
        self.n_features_in_ = n_features
        self.layer_widths_ = [table.input_width(l) for l in range(len(table) + 1)]
        self.activations_ = [row.activation.name for row in table.layers]
        self._layout_ = Layout(len(table), table.decoder_start,
                               table.input_width(table.decoder_start))
        self._fitted_config_ = {k: cfg[k] for k in STRUCTURAL if k in cfg}
        self.history_ = {"loss": [], "val_loss": []}
        self._shuffle_rng = np.random.default_rng(rng.integers(2**63))
        self._backend_ = None
        self._configure_network(net, cfg)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit or partial_fit first")

    # -------------------------------------------------------------- device
    def to(self, device):
        """Moves the model (weights and optimiser state) to "cpu" or "cuda";
        returns self. Raises, changing nothing, when the GPU is not usable."""
        device = check_device(device)
        BACKENDS[device].check_available()  # fails here, before anything changes
        self.device = device
        # A model on the host with no backend yet (just loaded) has nothing
        # to move: its precision is applied at its first use.
        if hasattr(self, "network_") and (self._backend_ is not None or device != "cpu"):
            self._backend()
        return self

    def _backend(self):
        """The backend for self.device, made (from the host state) when the
        device changed since the last call."""
        trainer = self._trainer_
        if trainer is not None and trainer != threading.get_ident():
            raise RuntimeError(f"this {type(self).__name__} is training in another thread; "
                               "use it once fit/partial_fit has returned")
        backend = self._backend_
        if backend is not None and backend.device == self.device and \
                backend.precision == self.precision:
            return backend  # the common case: a few attribute reads
        device = check_device(self.device)
        precision = choice(self.precision, "precision", PRECISIONS)
        if device != "cpu" and precision != "fp32":
            raise ValueError(f"precision={precision!r} runs on the CPU only")
        if backend is not None:
            backend.sync_to_host()
        self._backend_ = None
        if device == "cpu":  # raises RuntimeError on a CPU without bf16
            self.network_.set_precision(PRECISIONS[precision])
        self._backend_ = BACKENDS[device](self.network_, self._backend_config)
        return self._backend_

    def _backend_config(self) -> dict:
        """What a GPU network needs beyond the layer table: the structure the
        network was fitted with (not a structural change still waiting for
        fit), and the live learning rate."""
        cfg = {**self._checked_config(), **self._fitted_config_}
        return dict(loss=cfg["loss"],
                    optimizer=dict(kind=cfg["optimizer"], lr=cfg["learning_rate"],
                                   beta1=cfg["beta1"], beta2=cfg["beta2"], eps=cfg["eps"],
                                   momentum=cfg["momentum"]))

    def _sync_to_host(self):
        if self._backend_ is not None:
            self._backend_.sync_to_host()

    def _input(self, X, name="X", n_features=None):
        """X validated and on the model's device."""
        owner = type(self).__name__
        if hasattr(self, "network_"):
            return self._backend().input(X, name, n_features, owner)
        return input_array(check_device(self.device), X, name, n_features, owner)

    # ------------------------------------------------------------ training
    def fit(self, X, y=None, *, validation_data=None, comm=None):
        """Trains from a fresh initialisation; returns self.

        comm: an mpi4py communicator for data-parallel training, each rank
        passing its own shard of the rows as X (and of validation_data, if
        any); every rank ends with the same model (pyae._distributed). A
        dask array X is computed into memory; with comm, each rank computes
        only its contiguous run of X's row blocks (pyae._dask)."""
        with self._training():
            coll = _distributed.collective(comm)
            try:
                self._fit(X, validation_data, coll, comm)
            finally:
                coll.close()
        return self

    def _fit(self, X, validation_data, coll, comm):
        """fit's body. With several ranks, every step that can fail on one
        rank runs under coll.run: if it fails anywhere, every rank raises
        before the next collective (none is left waiting)."""
        def checked_input():
            return self._checked_config(), self._input(
                _dask.local_rows(X, comm) if _dask.is_dask_array(X) else X)

        cfg, X = coll.run(checked_input)
        coll.set_rows(len(X))
        _distributed.check_same_config(coll, cfg, X.shape[1])
        if cfg["scale"] is None:
            self.scaler_ = None
        else:
            self.scaler_ = _scaling.learn(coll.run(lambda: self._host_array(X)), cfg["scale"],
                                          coll)
        Xs, X_val = coll.run(lambda: (
            self._check_training_data(self._scale_in(X), cfg),
            self._validation_array(validation_data, X.shape[1], cfg, comm)))
        seed = None if comm is None else coll.bcast(
            self.seed if self.seed is not None else int(np.random.SeedSequence().entropy % 2**63))
        coll.run(lambda: self._build(X.shape[1], cfg, seed=seed))
        coll.bcast_array(self.network_.mutable_params())  # rank 0's initial weights everywhere
        self._train(Xs, X_val, cfg["epochs"], cfg, coll)
        self._learn_outlier_stats(coll.run(lambda: self._host(X)), cfg, coll)

    def partial_fit(self, X, y=None, *, validation_data=None):
        """One more epoch over X, building the model on first use."""
        with self._training():
            cfg = self._checked_config()
            fitted = hasattr(self, "network_")
            if _dask.is_dask_array(X):
                X = _dask.local_rows(X, None)
            X = self._input(X, n_features=self.n_features_in_ if fitted else None)
            if fitted:
                self._check_unchanged(cfg)
            else:  # the first call learns the scaling, the later ones keep it
                self.scaler_ = None if cfg["scale"] is None else \
                    _scaling.learn(self._host_array(X), cfg["scale"])
            Xs = self._check_training_data(self._scale_in(X), cfg)
            X_val = self._validation_array(validation_data, X.shape[1], cfg)
            if not fitted:
                self._build(X.shape[1], cfg)
            else:
                self._apply_live_parameters(cfg)
            self._train(Xs, X_val, 1, cfg)
            self._learn_outlier_stats(self._host(X), cfg)  # from this call's data
        return self

    @contextlib.contextmanager
    def _training(self):
        """The per-model lock, and all or nothing: on any exception the
        model's state is put back as it was before the call."""
        with self.__dict__.get("_lock_") or self._new_lock():
            saved = self._saved_state()
            self._trainer_ = threading.get_ident()
            try:
                yield
            except BaseException:
                self._restore_state(saved)
                raise
            finally:
                self.__dict__.pop("_trainer_", None)

    def _saved_state(self):
        """Everything training changes: the attributes (fit replaces the
        network), and the network's parameters, optimiser state, step count
        and shuffling state, which partial_fit changes in place."""
        attributes = {k: v for k, v in self.__dict__.items() if k not in ("_lock_", "_undo_")}
        if not hasattr(self, "network_"):
            return attributes, None
        self._sync_to_host()
        net = self.network_
        live = [net.params, net.optimizer_state(0), net.optimizer_state(1)]
        # Copies into buffers kept for the next call: fresh arrays would cost
        # page faults on every partial_fit (measured ~2% of an MNIST epoch).
        undo = self.__dict__.get("_undo_")
        if undo is None or undo[0].size != live[0].size:
            undo = self.__dict__["_undo_"] = [None if a is None else np.empty_like(a)
                                              for a in live]
        arrays = [None if a is None else np.copyto(u, a) or u for u, a in zip(undo, live)]
        return attributes, dict(arrays=arrays, step_count=net.step_count,
                                shuffle=copy.deepcopy(self._shuffle_rng.bit_generator.state),
                                history=copy.deepcopy(self.history_))

    def _restore_state(self, saved):
        attributes, network_state = saved
        for name in [k for k in self.__dict__ if k not in ("_lock_", "_trainer_", "_undo_")]:
            del self.__dict__[name]
        self.__dict__.update(attributes)
        if network_state is None:
            return
        net = self.network_
        params, state0, state1 = network_state["arrays"]
        net.mutable_params()[:] = params
        for k, state in enumerate((state0, state1)):
            if state is not None:
                net.optimizer_state(k)[:] = state
        net.step_count = network_state["step_count"]
        self._shuffle_rng.bit_generator.state = network_state["shuffle"]
        self.history_ = network_state["history"]
        self._backend_ = None  # a GPU copy may hold the failed call's state: made afresh

    def _check_unchanged(self, cfg):
        """partial_fit continues the fitted network: a structural parameter
        changed since fit is an error naming it."""
        for name, fitted in self._fitted_config_.items():
            if cfg[name] != fitted:
                raise ValueError(f"{name} changed since the model was fitted ({fitted!r} -> "
                                 f"{cfg[name]!r}); call fit to rebuild the model")

    def _apply_live_parameters(self, cfg):
        """Hands the network what may change between training calls."""
        self._backend().set_learning_rate(cfg["learning_rate"])

    def _check_training_data(self, X, cfg):
        if cfg["loss"] == "bce" and (float(X.min()) < -_BCE_SLACK or
                                     float(X.max()) > 1.0 + _BCE_SLACK):
            raise ValueError(
                f"loss='bce' needs data in [0, 1]; got values in [{float(X.min())}, "
                f"{float(X.max())}] "
                f"(rescale the data or use loss={self._UNBOUNDED_LOSS!r})")
        return X

    def _validation_array(self, validation_data, n_features, cfg, comm=None):
        if validation_data is None:
            return None
        if isinstance(validation_data, tuple):
            if not validation_data:
                raise ValueError("validation_data is an empty tuple; give X_val or (X_val,)")
            validation_data = validation_data[0]
        if _dask.is_dask_array(validation_data):
            validation_data = _dask.local_rows(validation_data, comm)
        X_val = input_array("cpu", validation_data, "validation_data", n_features,
                            type(self).__name__)
        self._check_training_data(self._scale_in(X_val), cfg)
        return X_val  # unscaled, as every inference entry takes it

    def _progress(self, epochs, rank=0):
        verbose = self.verbose
        show = rank == 0 and (sys.stderr.isatty() if verbose == "auto" else bool(verbose))
        from tqdm.auto import tqdm

        return tqdm(range(epochs), desc=type(self).__name__, unit="epoch", disable=not show,
                    leave=True)

    def _train(self, X, X_val, epochs, cfg, coll=_distributed.LOCAL):
        backend = coll.run(self._backend)
        n = coll.n_rows(X.shape[0])
        has_val = coll.any(X_val is not None)
        monitor = "val_loss" if has_val else "loss"
        best, best_params, stale = math.inf, None, 0
        bar = self._progress(epochs, coll.rank)
        for _ in bar:
            order = self._shuffle_rng.permutation(n) if self.shuffle else np.arange(n)
            if coll.size == 1:
                loss = backend.train_epoch(X, order.astype(np.int64), cfg["batch_size"])
            else:  # the global batch: batch_size rows per rank
                loss = _distributed.train_epoch(backend, X, order.astype(np.int64),
                                                cfg["batch_size"] * coll.size, coll) / n
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged (loss {loss}); lower learning_rate")
            self.history_["loss"].append(loss)
            if has_val:
                self.history_["val_loss"].append(self._validation_loss(X_val, coll))
            bar.set_postfix({k: f"{v[-1]:.5f}" for k, v in self.history_.items() if v})
            if self.patience is not None:
                current = self.history_[monitor][-1]
                if current < best - self.tol:
                    best, stale = current, 0
                    best_params = backend.snapshot()
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        bar.close()
        if best_params is not None:
            backend.restore_params(best_params)

    def _validation_loss(self, X_val, coll=_distributed.LOCAL):
        """The training loss on held-out data (comparable across epochs);
        over every rank's validation rows when distributed."""
        # Collective (every rank, with validation rows or not).
        first_row = coll.offset_of(0 if X_val is None else len(X_val))
        rows = coll.run(lambda: None if X_val is None else self._validation_rows(X_val, first_row))
        total = coll.sum([0.0, 0.0] if rows is None else [float(np.sum(rows)), len(rows)])
        return float(total[0] / total[1])

    def _validation_rows(self, X_val, first_row):
        """Per-row validation losses of rows first_row... of the global
        validation set (the DAE's noise and the VAE's draws are keyed by it)."""
        return self._scores(X_val, "reconstruction")

    # ----------------------------------------------------------- inference
    # The inference entry points read the layer table's numbers from
    # _layout_ (kept by _build): a batch-1 call takes ~20 us in all, and each
    # trip through the bound table costs a measurable part of it.
    def _forward(self, X, first, last, n_features, name="X", out=None):
        """Layers [first, last) of the network on X, on the caller's side
        (callers check that the model is fitted). Feature-space input (first
        0) is scaled and feature-space output (the last layer) unscaled."""
        backend = self._backend()
        Xd = backend.input(X, name, n_features, type(self).__name__)
        result = backend.forward(self._scale_in(Xd) if first == 0 else Xd, first, last, out)
        if last == self._layout_.n_layers:
            self._scale_out(result)
        return backend.to_caller(result, X)

    def _row_losses(self, X, target, first=0, n_features=None, out=None):
        """Per-sample loss of the network's output for X (run from layer
        ``first``) against target (the training loss per sample), in the
        scaled space the network was trained in."""
        self._check_fitted()
        backend, owner = self._backend(), type(self).__name__
        n_features = self.n_features_in_ if n_features is None else n_features
        Xd = backend.input(X, "X", n_features, owner)
        Td = self._scale_in(Xd if target is X else
                            backend.input(target, "X", self.n_features_in_, owner))
        if first == 0:
            Xd = Td if target is X else self._scale_in(Xd)
        if self.__dict__.get("scaler_") is not None and self._fitted_config_["loss"] == "bce":
            # Rows past a minmax scaling's training range: the loss of the
            # nearest target in [0, 1] (BCE of a target outside it is no loss).
            Td = Td.clip(0.0, 1.0)
        return backend.to_caller(backend.row_losses(Xd, Td, first, out), X)

    def _scale_in(self, Xd):
        scaler = self.__dict__.get("scaler_")
        return Xd if scaler is None else _scaling.scale_in(Xd, scaler)

    def _scale_out(self, Yd):
        scaler = self.__dict__.get("scaler_")
        return Yd if scaler is None else _scaling.scale_out(Yd, scaler)

    def _host_array(self, Xd):
        """A placed array on the host (before or after the backend exists)."""
        if isinstance(Xd, np.ndarray):
            return Xd
        from . import _device

        return _device.cuda_ops().to_host(Xd)

    @lazy_rows(_dask.FEATURES_TO_CODES)
    def transform(self, X, out=None):
        """The code: output of the innermost hidden layer, (n, hidden[-1]).
        ``out`` (float32, C-contiguous) receives it without an allocation."""
        self._check_fitted()
        return self._forward(X, 0, self._layout_.decoder_start, self.n_features_in_, out=out)

    @lazy_rows(_dask.CODES_TO_FEATURES)
    def inverse_transform(self, Z, out=None):
        """Decodes codes (n, code width) back to (n, n_features)."""
        self._check_fitted()
        layout = self._layout_
        return self._forward(Z, layout.decoder_start, layout.n_layers, layout.code_width, "Z",
                             out)

    @lazy_rows(_dask.FEATURES_TO_FEATURES)
    def reconstruct(self, X, out=None):
        """Encode then decode: (n, n_features) -> (n, n_features)."""
        self._check_fitted()
        return self._forward(X, 0, self._layout_.n_layers, self.n_features_in_, out=out)

    def score(self, X, y=None):
        """The training objective on X, higher is better (for GridSearchCV and
        cross_val_score): the negative mean reconstruction loss; for a VAE the
        mean ELBO (10 fixed draws). Whatever ``anomaly_score`` says. ``y`` is
        ignored."""
        self._check_fitted()
        return -float(np.mean(self._scores(X, self._OBJECTIVE_SCORE), dtype=np.float64))

    # ---------------------------------------------------------------- files
    def summary(self, n_features=None, print_fn=print):
        """Prints each layer (role, widths, activation, weight shape and
        parameter count), the total parameter count and the neurons per
        layer, e.g. 4-3-2-3-4. Before ``fit``, give ``n_features``.
        ``print_fn`` receives the text (``print_fn=str`` returns it)."""
        from ._summary import layer_summary

        if n_features is None:
            if not hasattr(self, "network_"):
                raise NotFittedError(f"this {type(self).__name__} is not fitted yet: give "
                                     "summary(n_features=...) or call fit first")
            table = self.network_.table
        else:
            table = self._layer_table(positive_int(n_features, "n_features"),
                                      self._checked_config())
        return print_fn(layer_summary(self, table))

    def __repr__(self):
        text = super().__repr__()
        if hasattr(self, "network_"):
            from ._summary import widths

            text += (f"  # fitted: {'-'.join(map(str, widths(self.network_.table)))}, "
                     f"{self.network_.table.num_params:,} parameters")
        return text

    def save(self, path):
        """Writes one .safetensors file (weights, optimiser state, config).
        Waits for a training call on another thread to finish; refuses
        (before writing) a parameter that would not load."""
        from ._model_file import write_model

        with self.__dict__.get("_lock_") or self._new_lock():
            self._checked_config()
            write_model(self, path)

    # Pickling (joblib, multiprocessing, GridSearchCV(n_jobs=...)) goes through
    # the same safetensors bytes as a saved file, never through the C++ object.
    def __getstate__(self):
        from ._model_file import model_bytes

        if not hasattr(self, "network_"):
            return {"params": self.get_params()}
        with self.__dict__.get("_lock_") or self._new_lock():  # never mid-training
            return {"params": self.get_params(), "model_file": model_bytes(self)}

    def __setstate__(self, state):
        from ._model_file import model_from_bytes

        if "model_file" in state:
            self.__dict__.update(model_from_bytes(type(self), state["model_file"]).__dict__)
        self.set_params(**state["params"])

    def _params_for_file(self) -> dict:
        """get_params() in JSON-ready form, with the values the network was
        built from for its structural parameters (changed ones wait for fit).
        A parameter set to a value that fails its check is written as its
        default (only pickles reach here with one: they restore the value
        itself through set_params; save refuses it first)."""
        params = {**self.get_params(), **self._fitted_config_}
        defaults = type(self)().get_params()
        checks = self._parameter_checks()
        for name, value in params.items():
            try:
                checks[name](value, name)
            except (ValueError, TypeError):
                params[name] = defaults[name]
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
        params["hidden"] = [int(h) for h in params["hidden"]]
        del params["device"]  # files are device-independent; load(path, device=...)
        return params

    @classmethod
    def _params_from_file(cls, params: dict) -> dict:
        params = {k: v for k, v in params.items() if k in cls._get_param_names()}
        if isinstance(params.get("hidden"), list):  # JSON has no tuples
            params["hidden"] = tuple(params["hidden"])
        return params
