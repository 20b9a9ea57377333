"""A model as a file and back: the tensors named by its layer table, the
optimiser state, the config and the layer table in the metadata (format 2;
format-1 files, without the table, still load). The container and its
checks are pyae._io; the bytes are never a pickle."""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np

from ._device import check_device
from ._io import ModelFileError, ModelFileReader, encode_model, table_to_json, write_model_file
from ._outliers import _MIN_LOG_SPREAD, COMBINED
from ._validation import positive_int

# Model type name in a file -> class; each model module registers itself.
MODEL_CLASSES: dict = {}


def table_tensor_shapes(table) -> dict:
    """Name -> shape of the parameter tensors a model with this layer table has."""
    shapes = {}
    for i, spec in enumerate(table.layers):
        if spec.owns_weight:
            shapes[f"layers.{i}.weight"] = (spec.d_out, spec.d_in)
        shapes[f"layers.{i}.bias"] = (spec.d_out,)
    return shapes


def model_tensors(model, writable=False) -> dict:
    """Name -> view into the model's parameters (and optimiser state);
    writable views (for the loader) mark the parameters changed."""
    net = model.network_
    params = net.mutable_params() if writable else net.params
    tensors = {}
    for i, spec in enumerate(net.table.layers):
        if spec.owns_weight:
            o = spec.weight_offset
            tensors[f"layers.{i}.weight"] = params[o:o + spec.d_in * spec.d_out] \
                .reshape(spec.d_out, spec.d_in)
        o = spec.bias_offset
        tensors[f"layers.{i}.bias"] = params[o:o + spec.d_out]
    for k in (0, 1):
        state = net.optimizer_state(k)
        if state is not None:
            tensors[f"optimizer.state{k}"] = state
    return tensors


def file_payload(model):
    """(tensors, metadata) of a fitted model's file."""
    model._check_fitted()
    model._sync_to_host()
    from . import __version__

    meta = {
        "model": type(model).__name__,
        "config": model._params_for_file(),
        "n_features": model.n_features_in_,
        "layers": table_to_json(model.network_.table),
        "pyae_version": __version__,
        "training": {
            "history": model.history_,
            "step_count": model.network_.step_count,
            "shuffle_rng": model._shuffle_rng.bit_generator.state,
        },
    }
    tensors = model_tensors(model)
    stats = getattr(model, "outlier_stats_", None)
    # A model from an older file may lack both, or (its "combined" threshold
    # dropped) have statistics and no threshold: {"threshold": null, "score": null}.
    if getattr(model, "threshold_", None) is not None or stats is not None:
        meta["outlier"] = {"threshold": model.threshold_, "score": model.threshold_score_}
        for name in outlier_tensor_names(stats, model._layout_.decoder_start == 1):
            tensors[f"outlier.{name}"] = stats[name]
        if model.calibration_scores_ is not None:
            tensors["outlier.calibration_scores"] = model.calibration_scores_
    if getattr(model, "scaler_", None) is not None:
        tensors["scaler.offset"], tensors["scaler.factor"] = model.scaler_
    return tensors, meta


# The statistics of the anomaly scores (pyae/_outliers.py), saved as tensors.
OUTLIER_TENSORS = ("residual_mean", "residual_std", "code_mean", "code_precision", "code_bank",
                   "hidden_bank", "combined_moments")
SCORE_NEEDS_STATS = ("standardized", "latent", "neighbours", "hidden_neighbours", "combined")
# Files of pyae 0.1 before hidden_neighbours: "moments" of another "combined"
# and no hidden bank. Their other statistics mean what they did (see
# _read_outlier_state), and a model loaded from one saves them the same way.
LEGACY_OUTLIER_TENSORS = ("residual_mean", "residual_std", "code_mean", "code_precision",
                          "moments", "code_bank")
NEEDS_NEW_STATS = ("hidden_neighbours", "combined")


def current_outlier_tensors(first_layer_is_code):
    """The statistics' tensors a file of this pyae holds: the hidden bank is
    the code bank, stored once, where the first layer is the code."""
    return tuple(n for n in OUTLIER_TENSORS if n != "hidden_bank" or not first_layer_is_code)


def outlier_tensor_names(stats, first_layer_is_code):
    """The tensors a model's statistics are saved as (none without them; an
    older file's as they were)."""
    if stats is None:
        return ()
    if "combined_moments" not in stats:
        return LEGACY_OUTLIER_TENSORS
    return current_outlier_tensors(first_layer_is_code)


# Parameters added after files were first written: a file without them (and
# only them) gets their defaults. Any other missing key is an error.
ADDED_PARAMETERS = ("contamination", "anomaly_score", "scale", "precision")


def write_model(model, path):
    write_model_file(path, *file_payload(model))


def model_bytes(model) -> bytes:
    return encode_model(*file_payload(model))


def model_from_bytes(cls, blob):
    # A copy (pickle, deepcopy, a Dask worker's) of a model that loaded with a
    # warning already gave it once.
    with ModelFileReader(io.BytesIO(blob), "pickled model") as reader, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_from_file(cls, reader)


def model_from_file(cls, reader):
    meta, path = reader.metadata, reader.name
    config = meta.get("config")
    expected = set(cls._get_param_names()) - {"device"}  # files are device-independent
    if isinstance(config, dict):
        expected -= set(ADDED_PARAMETERS) - set(config)  # written before they existed
    if isinstance(config, dict) and set(config) != expected:
        missing, unknown = sorted(expected - set(config)), sorted(set(config) - expected)
        raise ModelFileError(f"{path!r} has an invalid config: missing {missing}, "
                             f"unknown {unknown} (a default never stands in for a lost key)")
    if isinstance(config, dict):
        # Written before they existed: what those files' models did.
        legacy = {"contamination": "auto", "anomaly_score": cls._OBJECTIVE_SCORE, "scale": None,
                  "precision": "fp32"}
        config = {**legacy, **config}
    try:
        model = cls(**cls._params_from_file(config))
        cfg = model._checked_config()
        n_features = positive_int(meta["n_features"], "n_features")
        table = model._layer_table(n_features, cfg)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{path!r} has an invalid config: {e}") from None
    # Compared as JSON text: 4.0 or true is not the width 4 or 1 (the C
    # library, reading the same table, demands integers too).
    if meta["format_version"] >= 2 and \
            json.dumps(meta.get("layers")) != json.dumps(table_to_json(table)):
        raise ModelFileError(f"{path!r}: its layer table does not match its config")
    # The parameters must be in the file before the network is allocated, so
    # a small file cannot make the loader allocate a huge network.
    for name, shape in table_tensor_shapes(table).items():
        reader.expect(name, shape)
    model._build(n_features, cfg, initialise=False)
    targets = model_tensors(model, writable=True)  # views into the new parameter buffer
    outlier_names = {n for n in reader.names() if n.startswith("outlier.")}
    scaler_names = {"scaler.offset", "scaler.factor"} if cfg["scale"] is not None else set()
    extra = reader.names() - set(targets) - outlier_names - scaler_names
    if extra:
        raise ModelFileError(f"{path!r} has unexpected tensors {sorted(extra)}")
    for name, target in targets.items():
        if name.startswith("optimizer.") and name not in reader.names():
            continue  # a file may omit the optimiser state
        reader.read_into(name, target)  # streamed: no second copy of the model
    model.scaler_ = None
    if scaler_names:
        model.scaler_ = tuple(np.empty(n_features, np.float32) for _ in range(2))
        for name, target in zip(("scaler.offset", "scaler.factor"), model.scaler_):
            reader.read_into(name, target)  # checks presence, shape and finiteness
        if not (model.scaler_[1] > 0).all():
            raise ModelFileError(f"{path!r}: scaler.factor must be positive")
    _read_outlier_state(model, reader, meta, n_features, table)
    if cfg["optimizer"] == "adam" and "optimizer.state1" in targets and \
            targets["optimizer.state1"].min() < 0:
        raise ModelFileError(f"{path!r}: Adam's second moments must not be negative")
    training = meta.get("training")
    try:
        if not isinstance(training, dict) or \
                set(training) != {"history", "step_count", "shuffle_rng"} or \
                not isinstance(training["history"], dict):
            raise TypeError("training must be an object of history, step_count and shuffle_rng")
        model.history_ = {k: [float(x) for x in training["history"].get(k, [])]
                          for k in ("loss", "val_loss")}
        step_count = training["step_count"]
        if isinstance(step_count, bool) or not isinstance(step_count, int):
            raise TypeError(f"step_count must be an integer, got {step_count!r}")
        model.network_.step_count = step_count
        model._shuffle_rng.bit_generator.state = training["shuffle_rng"]
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ModelFileError(f"{path!r} has corrupt training metadata: {e}") from None
    return model


def _finite_number(value):
    """A JSON number that is a finite float64 (not a bool, not a huge int)."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and abs(value) <= 1e300


def _check_outlier_stats(stats, path):
    """What the scores divide by, take the log of or a quadratic form with
    must make sense: positive spreads and floors; a symmetric precision matrix
    with a positive diagonal (O(Z^2) checks: a load never factorises a large
    matrix)."""
    precision = stats["code_precision"]
    if "combined_moments" in stats:  # (floor, median, spread) of each part: as fit makes them
        m = stats["combined_moments"].reshape(-1, 3)
        if np.any(m[:, 0] < np.float32(1e-30)) or np.any(m[:, 2] < np.float32(_MIN_LOG_SPREAD)):
            raise ModelFileError(f"{path!r}: outlier.combined_moments has a floor below 1e-30 "
                                 f"or a spread below {_MIN_LOG_SPREAD}")
    elif np.any(stats["moments"][1::2] <= 0):  # an older file's (mean, spread) pairs
        raise ModelFileError(f"{path!r}: outlier spreads must be positive")
    if np.any(stats["residual_std"] <= 0):
        raise ModelFileError(f"{path!r}: outlier spreads must be positive")
    if not np.array_equal(precision, precision.T) or np.any(np.diagonal(precision) <= 0):
        raise ModelFileError(f"{path!r}: outlier.code_precision must be symmetric with a "
                             "positive diagonal")


def read_calibration_scores(reader, path):
    """The file's sorted, non-empty outlier.calibration_scores, or None."""
    if "outlier.calibration_scores" not in reader.names():
        return None
    shape = reader.shape("outlier.calibration_scores")
    if len(shape) != 1 or shape[0] < 1:
        raise ModelFileError(f"{path!r}: outlier.calibration_scores must be 1-D, non-empty")
    cal = np.empty(shape, np.float32)
    reader.read_into("outlier.calibration_scores", cal)
    if np.any(np.diff(cal) < 0):
        raise ModelFileError(f"{path!r}: outlier.calibration_scores must be sorted")
    return cal


def _clear_outlier_state(model):
    model.outlier_stats_ = None
    model.threshold_ = None
    model.threshold_score_ = None
    model.calibration_scores_ = None


def _read_outlier_state(model, reader, meta, n_features, table):
    """The anomaly scores' statistics and threshold, where the file has them."""
    path, names = reader.name, {n for n in reader.names() if n.startswith("outlier.")}
    info = meta.get("outlier")
    if info is None:
        if names:
            raise ModelFileError(f"{path!r} has outlier tensors but no outlier metadata")
        _clear_outlier_state(model)
        return
    Z = table.input_width(table.decoder_start)
    first_is_code = table.decoder_start == 1
    shapes = {"residual_mean": (n_features,), "residual_std": (n_features,),
              "code_mean": (Z,), "code_precision": (Z, Z), "moments": (6,),
              "combined_moments": (3 * len(COMBINED),)}
    for bank, width in (("code_bank", Z), ("hidden_bank", Z if first_is_code else
                                           table.input_width(1))):
        if f"outlier.{bank}" in names:  # its row count is the file's
            shape = reader.shape(f"outlier.{bank}")
            if not shape or shape[0] < 1:
                raise ModelFileError(f"{path!r}: outlier.{bank} must have rows")
            shapes[bank] = (shape[0], width)
    wanted = {f"outlier.{k}" for k in current_outlier_tensors(first_is_code)}
    have = names - {"outlier.calibration_scores"}
    legacy = have == {f"outlier.{k}" for k in LEGACY_OUTLIER_TENSORS}
    if have and have != wanted and not legacy:
        raise ModelFileError(f"{path!r} has outlier tensors {sorted(names)}, expected "
                             f"{sorted(wanted)} or none (and optionally "
                             "outlier.calibration_scores)")
    stats = None
    if have:
        stats = {}
        for k, shape in shapes.items():
            if f"outlier.{k}" in have:
                stats[k] = np.empty(shape, np.float32)
                reader.read_into(f"outlier.{k}", stats[k])
        _check_outlier_stats(stats, path)
        if first_is_code and not legacy:
            stats["hidden_bank"] = stats["code_bank"]
    cal = read_calibration_scores(reader, path)
    if info == {"threshold": None, "score": None} and stats is not None and cal is None:
        info = None  # statistics without a threshold
    elif not isinstance(info, dict) or set(info) != {"threshold", "score"} or \
            not _finite_number(info["threshold"]) or not isinstance(info["score"], str) or \
            info["score"] not in model._SCORES:
        raise ModelFileError(f"{path!r} has corrupt outlier metadata")
    if legacy:
        dropped = info is not None and info["score"] in NEEDS_NEW_STATS
        # pyae.load -> model_from_reader -> model_from_file -> here: the caller's line.
        warnings.warn(f"{path!r} was written by an older pyae: its scores {list(NEEDS_NEW_STATS)}"
                      " need the model fitted again" +
                      (f" (its {info['score']!r} threshold is dropped)" if dropped else ""),
                      stacklevel=5)
        if dropped:
            info, cal = None, None
    if info is None:
        _clear_outlier_state(model)
        model.outlier_stats_ = stats
        return
    if stats is None and info["score"] in SCORE_NEEDS_STATS:
        raise ModelFileError(f"{path!r}: a {info['score']!r} threshold without the statistics "
                             "of that score")
    model.outlier_stats_ = stats
    model.threshold_ = float(info["threshold"])
    model.threshold_score_ = info["score"]
    model.calibration_scores_ = cal


def load(path, device="cpu"):
    """Loads a model saved with ``save`` onto ``device``; raises
    ModelFileError on a bad file."""
    device = check_device(device)
    with ModelFileReader(path) as reader:
        model = model_from_reader(reader)
    return model.to(device)


def model_from_reader(reader):
    """The model of an open model file, whatever its type."""
    kind = reader.metadata.get("model")
    if not isinstance(kind, str) or kind not in MODEL_CLASSES:
        raise ModelFileError(f"{reader.name!r} holds an unknown model type {kind!r}")
    if not isinstance(reader.metadata.get("config"), dict):
        raise ModelFileError(f"{reader.name!r} lacks its model config")
    cls = MODEL_CLASSES[kind]
    if hasattr(cls, "_from_reader"):  # a model of models (pyae.ensemble)
        return cls._from_reader(reader)
    return model_from_file(cls, reader)
