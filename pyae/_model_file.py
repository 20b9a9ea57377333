"""A model as a file and back: the tensors named by its layer table, the
optimiser state, the config and the layer table in the metadata (format 2;
format-1 files, without the table, still load). The container and its
checks are pyae._io; the bytes are never a pickle."""

from __future__ import annotations

from ._device import check_device
from ._io import (ModelFileError, decode_model, encode_model, expect_tensor, read_model_file,
                  table_to_json, write_model_file)
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


def model_tensors(model) -> dict:
    """Name -> view into the model's parameters (and optimiser state)."""
    net = model.network_
    params = net.params
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
    return model_tensors(model), meta


def write_model(model, path):
    write_model_file(path, *file_payload(model))


def model_bytes(model) -> bytes:
    return encode_model(*file_payload(model))


def model_from_bytes(cls, blob):
    tensors, meta = decode_model(blob, "pickled model")
    return model_from_file(cls, tensors, meta, "pickled model")


def model_from_file(cls, tensors, meta, path):
    config = meta.get("config")
    expected = set(cls._get_param_names()) - {"device"}  # files are device-independent
    if isinstance(config, dict) and set(config) != expected:
        missing, unknown = sorted(expected - set(config)), sorted(set(config) - expected)
        raise ModelFileError(f"{path!r} has an invalid config: missing {missing}, "
                             f"unknown {unknown} (a default never stands in for a lost key)")
    try:
        model = cls(**cls._params_from_file(meta["config"]))
        cfg = model._checked_config()
        n_features = positive_int(meta["n_features"], "n_features")
        table = model._layer_table(n_features, cfg)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{path!r} has an invalid config: {e}") from None
    if meta["format_version"] >= 2 and meta.get("layers") != table_to_json(table):
        raise ModelFileError(f"{path!r}: its layer table does not match its config")
    # The parameters must be in the file before the network is allocated, so
    # a small file cannot make the loader allocate a huge network.
    for name, shape in table_tensor_shapes(table).items():
        expect_tensor(tensors, name, shape, path)
    model._build(n_features, cfg)
    targets = model_tensors(model)  # views into the new model's parameter buffer
    extra = set(tensors) - set(targets)
    if extra:
        raise ModelFileError(f"{path!r} has unexpected tensors {sorted(extra)}")
    for name, target in targets.items():
        if name.startswith("optimizer.") and name not in tensors:
            continue  # a file may omit the optimiser state
        target[...] = expect_tensor(tensors, name, target.shape, path)
    training = meta.get("training", {})
    try:
        if not isinstance(training, dict) or not isinstance(training.get("history", {}), dict):
            raise TypeError("training and its history must be JSON objects")
        model.history_ = {k: [float(x) for x in training.get("history", {}).get(k, [])]
                          for k in ("loss", "val_loss")}
        step_count = training.get("step_count", 0)
        if isinstance(step_count, bool) or not isinstance(step_count, int):
            raise TypeError(f"step_count must be an integer, got {step_count!r}")
        model.network_.step_count = step_count
        if "shuffle_rng" in training:
            model._shuffle_rng.bit_generator.state = training["shuffle_rng"]
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path!r} has corrupt training metadata: {e}") from None
    return model


def load(path, device="cpu"):
    """Loads a model saved with ``save`` onto ``device``; raises
    ModelFileError on a bad file."""
    device = check_device(device)
    tensors, meta = read_model_file(path)
    kind = meta.get("model")
    if not isinstance(kind, str) or kind not in MODEL_CLASSES:
        raise ModelFileError(f"{path!r} holds an unknown model type {kind!r}")
    if not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{path!r} lacks its model config")
    return model_from_file(MODEL_CLASSES[kind], tensors, meta, path).to(device)
