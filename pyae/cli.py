"""The ``pyae`` command.

    pyae demo [--epochs N] [--out DIR]       denoising autoencoder on MNIST (or,
                                             offline, the bundled 8x8 digits):
                                             figure, loss curve, model, MSE/PSNR
    pyae train {ae,dae,vae} --dataset D ...  train and save a model
    pyae sample MODEL --n 64 --out F         generated samples of a VAE
    pyae denoise MODEL --dataset D --out F   corrupt held-out images, denoise
                                             them, write the figure
    pyae info MODEL                          architecture and training metadata
    pyae score MODEL DATA [--out F.csv]      anomaly scores, p-values and labels

Bad arguments exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

from ._enums import ACTIVATIONS


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CliError(message)


# ------------------------------------------------------------------ parsing
def _number(cast, low, strict, what, high=math.inf):
    """An argparse type: cast(text), at least `low` (above it when strict),
    at most `high`."""
    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, 0, True, "a positive integer")
_seed = _number(int, 0, False, "an integer seed >= 0")
# Images in one figure: past these a figure is unreadable (and slow to draw).
_samples_in_figure = _number(int, 0, True, "a number of samples in [1, 1024]", 1024)
_images_per_row = _number(int, 0, True, "a number of images per row in [1, 100]", 100)
_positive_float = _number(float, 0.0, True, "a positive number")
_nonnegative_float = _number(float, 0.0, False, "a number >= 0")


def _hidden(text):
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 256,64, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 256,64, got {text!r}")
    return widths


def _noise(text):
    """gaussian:STD | salt_and_pepper:AMOUNT | masking:FRACTION"""
    from . import noise

    kinds = {"gaussian": noise.Gaussian, "salt_and_pepper": noise.SaltAndPepper,
             "masking": noise.Masking}
    kind, _, value = text.partition(":")
    if kind not in kinds or not value:
        raise argparse.ArgumentTypeError(
            f"expected gaussian:STD, salt_and_pepper:AMOUNT or masking:FRACTION, got {text!r}")
    try:
        return kinds[kind](float(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# ----------------------------------------------------------------- data
def _load_dataset(spec, seed, shard=(0, 1)):
    """(X_train, X_test, description) from a dataset name or a file path;
    ``shard`` (rank, size): that rank's contiguous part of each split (a .npy
    file is memory-mapped, so a rank reads only its own rows)."""
    from . import datasets

    if spec in ("mnist", "fashion-mnist"):
        X_tr, _, X_te, _, desc = datasets.load_train_test(spec, seed=seed)
        return _part(X_tr, shard), _part(X_te, shard), desc
    if not os.path.exists(spec):
        raise CliError(f"--dataset must be mnist, fashion-mnist or an existing file, got {spec!r}")
    rows = _memory_mapped(spec) if spec.endswith(".npy") and shard[1] > 1 else _read_rows(spec)
    X_tr, X_te, desc = _split(rows, seed, spec, shard=shard)
    return _float32_rows(X_tr), _float32_rows(X_te), desc


def _part(X, shard):
    """Rank ``shard[0]``'s contiguous part of the rows of X (of shard[1] ranks)."""
    rank, size = shard
    return X[len(X) * rank // size:len(X) * (rank + 1) // size]


def _memory_mapped(spec):
    X = np.load(spec, mmap_mode="r", allow_pickle=False)
    if X.ndim < 1 or X.size == 0 or X.dtype.kind not in "fiub":
        return _read_rows(spec)  # the one-line errors of the full read
    return X


def _float32_rows(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def _read_rows(spec):
    """(n, features) float32 rows of a .npy, .csv or IDX file. NumPy's
    warnings (an empty CSV, values past float32) are silenced here: the
    checks that follow give the one-line error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_rows_quietly(spec)


def _read_rows_quietly(spec):
    from . import datasets

    if not os.path.isfile(spec):
        raise CliError(f"no data file at {spec!r}")
    if spec.endswith(".csv"):
        try:
            X = np.loadtxt(spec, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as e:
            raise CliError(f"{spec!r} is not a CSV of numbers ({e})") from None
        if X.size == 0:
            raise CliError(f"{spec!r} holds no samples")
    elif spec.endswith(".npy"):
        X = np.load(spec, allow_pickle=False)
        if X.ndim < 1 or X.size == 0:
            raise CliError(f"{spec!r} holds no samples (shape {X.shape})")
        if X.dtype.kind not in "fiub":
            raise CliError(f"{spec!r} must hold real numbers, got dtype {X.dtype}")
    else:
        X = datasets.read_idx(spec)
        X = X.reshape(len(X), -1).astype(np.float32)
        if X.max() > 1:
            X /= 255.0
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def _split(X, seed, name, note="", shard=(0, 1)):
    """A seeded 80/20 train / held-out split (one sample is both when X has
    one); with ``shard``, only that rank's part of each is read."""
    order = np.random.default_rng(seed).permutation(len(X))
    cut = max(1, int(0.8 * len(X)))
    held_out = order[cut:] if cut < len(X) else order[:1]
    return X[_part(order[:cut], shard)], X[_part(held_out, shard)], (
        f"{name}, {cut} train / {len(held_out)} held out (seed {seed}){note}")


def _save_figure(fig, path):
    fig.savefig(path, dpi=120)
    print(f"figure written to {path}")


# ------------------------------------------------------------- commands
def cmd_demo(args):
    from . import datasets, demo

    _output_folder(args.out)  # before training, not after
    try:
        demo.run(args.out, seed=args.seed, epochs=args.epochs, learning_rate=args.lr,
                 verbose=args.verbose)
    except ImportError as e:  # neither MNIST nor scikit-learn's digits
        raise CliError(f"MNIST not found and no fallback: {e}") from None
    except datasets.DatasetNotFound as e:
        raise CliError(str(e)) from None
    return 0


def _mpi_world():
    """COMM_WORLD when this process is one of several MPI ranks (started by
    mpirun, mpiexec or srun), else None."""
    sizes = [os.environ.get(v) for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                         "MPI_LOCALNRANKS")]
    if not any(s and s.isdigit() and int(s) > 1 for s in sizes):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise CliError("started as several MPI ranks, but mpi4py is not installed: "
                       "pip install 'pyae[mpi]'") from None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def cmd_train(args):
    import pyae

    comm = _mpi_world()
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    say = print if rank == 0 else (lambda *a, **k: None)
    error = None
    try:
        if rank == 0:
            _output_file(args.out)  # before training, not after
        X_train, X_test, source = _load_dataset(args.dataset, args.seed, (rank, size))
    except Exception as e:
        error = e
    if comm is not None:  # a rank that cannot start stops every rank
        failed = [(r, m) for r, m in enumerate(comm.allgather(error and str(error))) if m]
        if failed:
            raise CliError(f"rank {failed[0][0]} of {size}: {failed[0][1]}")
    elif error is not None:
        raise error
    common = dict(hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                  learning_rate=args.lr, seed=args.seed, verbose=not args.quiet and "auto",
                  device=args.device)
    if args.activation is not None:
        common["activation"] = args.activation
    if args.noise is not None and args.kind != "dae":
        raise CliError("--noise applies to 'dae' models only")
    if args.latent_dim is not None and args.kind != "vae":
        raise CliError("--latent-dim applies to 'vae' models only")
    if args.kind == "dae":
        model = pyae.DenoisingAutoencoder(noise=args.noise or pyae.noise.Gaussian(0.5), **common)
    elif args.kind == "vae":
        model = pyae.VAE(latent_dim=args.latent_dim or 20, beta=args.beta, **common)
    else:
        model = pyae.Autoencoder(**common)
    say(f"data: {source}" + ("" if comm is None else
                             f"; {size} MPI ranks, {args.batch_size} rows per rank per step"))
    t = time.perf_counter()
    # A rank may hold no held-out rows (fewer of them than ranks).
    model.fit(X_train, validation_data=X_test if len(X_test) else None, comm=comm)
    say(f"trained in {time.perf_counter() - t:.1f} s; held-out loss "
        f"{model.history_['val_loss'][-1]:.5f}")
    if rank == 0:
        model.save(args.out)
    say(f"model saved to {args.out}")
    return 0


def _load_model(path):
    import warnings

    import pyae

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = pyae.load(path)
    except pyae.ModelFileError as e:
        raise CliError(str(e)) from None
    for w in caught:  # one line each, as the CLI's errors
        print(f"pyae: warning: {w.message}", file=sys.stderr)
    return model


def cmd_denoise(args):
    import pyae

    from . import demo

    _output_file(args.out)
    model = _load_model(args.model)
    noise = args.noise or (model._noise() if isinstance(model, pyae.DenoisingAutoencoder)
                           else pyae.noise.Gaussian(0.5))
    _, X_test, source = _load_dataset(args.dataset, args.seed)
    if X_test.shape[1] != model.n_features_in_:
        raise CliError(f"the dataset has {X_test.shape[1]} features, the model expects "
                       f"{model.n_features_in_}")
    corrupted = noise(X_test, seed=args.seed + 1)
    denoised = model.reconstruct(corrupted)
    print(f"data: {source}; noise: {noise}")
    demo.report(X_test, corrupted, denoised)
    from . import plot

    _save_figure(plot.denoising_figure(X_test, corrupted, denoised, n=args.n), args.out)
    return 0


def cmd_sample(args):
    import pyae

    _output_file(args.out)
    model = _load_model(args.model)
    if not isinstance(model, pyae.VAE):
        raise CliError(f"{args.model} holds a {type(model).__name__}; sampling needs a VAE")
    samples = model.sample(args.n, seed=args.seed)
    from . import plot

    side = int(round(model.n_features_in_ ** 0.5))
    shape = (side, side) if side * side == model.n_features_in_ else (1, model.n_features_in_)
    _save_figure(plot.image_grid(samples, cols=min(8, args.n), image_shape=shape,
                                 title=f"{args.n} samples from the VAE"), args.out)
    return 0


def cmd_score(args):
    model = _load_model(args.model)
    if args.score is not None:
        if args.score not in model.anomaly_scores():
            raise CliError(f"--score must be one of {sorted(model.anomaly_scores())} for a "
                           f"{type(model).__name__}, got {args.score!r}")
        if args.score != model.anomaly_score:  # an ensemble has the one score
            model.set_params(anomaly_score=args.score)
    if args.out is not None:
        _output_file(args.out)
    X = _read_rows(args.data)
    if X.shape[1] != model.n_features_in_:
        raise CliError(f"{args.data!r} has {X.shape[1]} features, the model expects "
                       f"{model.n_features_in_}")
    columns = {"score": model.score_samples(X)}
    if getattr(model, "calibration_scores_", None) is not None and \
            model.threshold_score_ == model.anomaly_score:
        columns["pvalue"] = model.pvalues(X)
    if getattr(model, "threshold_", None) is not None and \
            model.threshold_score_ == model.anomaly_score:
        columns["label"] = model.predict(X)
    header = "row," + ",".join(columns)
    lines = [header] + [f"{i}," + ",".join(f"{columns[k][i]:.7g}" if k != "label"
                                          else str(int(columns[k][i])) for k in columns)
                        for i in range(len(X))]
    if args.out is None:
        print("\n".join(lines))
    else:
        from ._io import atomic_write_bytes

        atomic_write_bytes(args.out, ("\n".join(lines) + "\n").encode())
        n_out = int(np.sum(columns["label"] == -1)) if "label" in columns else None
        print(f"{len(X)} rows scored ({model.anomaly_score})"
              + (f"; {n_out} outliers at threshold {model.threshold_:.6g}" if n_out is not None
                 else "") + f"; written to {args.out}")
    return 0


def cmd_info(args):
    model = _load_model(args.model)
    if hasattr(model, "members_"):  # an AnomalyEnsemble: its members, one line each
        print(f"{type(model).__name__} of {len(model.members_)} members; threshold "
              f"{model.threshold_:.6g}")
        for member in model.members_:
            print(f"  {type(member).__name__} {'-'.join(map(str, member.layer_widths_))}")
        return 0
    hist = model.history_["loss"]
    print(f"{type(model).__name__} {'-'.join(map(str, model.layer_widths_))}")
    tied = any(row.tied_to >= 0 for row in model.network_.table.layers)
    print(f"activations: {', '.join(model.activations_)}; loss: {model.loss}; "
          f"tied weights: {tied}; optimizer: {model.optimizer} "
          f"(learning rate {model.learning_rate})")
    if hasattr(model, "_noise"):
        print(f"noise: {model._noise()}")
    if hasattr(model, "latent_dim"):
        print(f"latent_dim: {model.latent_dim}; beta: {model.beta}")
    print(f"parameters: {model.network_.params.size}; training steps: "
          f"{model.network_.step_count}; epochs: {len(hist)}"
          + (f"; last loss {hist[-1]:.6f}" if hist else ""))
    return 0


def build_parser():
    p = _Parser(prog="pyae", description="Fast autoencoders with a C++ core.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("score", help="anomaly scores (and p-values and labels) of data rows")
    c.add_argument("model")
    c.add_argument("data", help="a .npy, .csv or IDX file of rows")
    c.add_argument("--score", default=None, help="anomaly score (default: the model's)")
    c.add_argument("--out", default=None, help="CSV file (default: print)")
    c.set_defaults(func=cmd_score)

    d = sub.add_parser("demo", help="train a denoising autoencoder on digits; write figures")
    d.add_argument("--epochs", type=_positive_int, default=None,
                   help="default: 60 on MNIST; offline, until early stopping")
    d.add_argument("--lr", type=_positive_float, default=None, help="default 3e-3")
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--out", default="pyae-demo", help="folder for the figures and model")
    d.add_argument("--verbose", action="store_true", help="show a progress bar")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train and save a model")
    t.add_argument("kind", choices=["ae", "dae", "vae"])
    t.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, or a .npy/IDX file")
    t.add_argument("--hidden", type=_hidden, default=(256, 64))
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                   help="hidden layers' activation (default: sigmoid; relu for vae)")
    t.add_argument("--noise", type=_noise, default=None,
                   help="gaussian:STD, salt_and_pepper:AMOUNT or masking:FRACTION (dae)")
    t.add_argument("--latent-dim", type=_positive_int, default=None, help="vae (default 20)")
    t.add_argument("--beta", type=_nonnegative_float, default=1.0, help="vae KL weight")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="train on the CPU or an NVIDIA GPU (needs CuPy)")
    t.add_argument("--out", default="model.safetensors")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    n = sub.add_parser("denoise", help="denoise held-out images with a model; write the figure")
    n.add_argument("model")
    n.add_argument("--dataset", default="mnist")
    n.add_argument("--noise", type=_noise, default=None, help="default: the model's noise")
    n.add_argument("--n", type=_images_per_row, default=10, help="images per row")
    n.add_argument("--seed", type=_seed, default=0)
    n.add_argument("--out", default="denoising.png")
    n.set_defaults(func=cmd_denoise)

    s = sub.add_parser("sample", help="draw samples from a VAE; write an image grid")
    s.add_argument("model")
    s.add_argument("--n", type=_samples_in_figure, default=64)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=cmd_sample)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None):
    """Exit status 0, 2 for any error (one line on stderr, no traceback:
    PYAE_DEBUG=1 shows it), 130 when interrupted."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt:
        print("pyae: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the user gets one line, not a traceback
        if os.environ.get("PYAE_DEBUG"):
            raise
        print(f"pyae: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _one_line(e):
    if isinstance(e, MemoryError):
        return "out of memory (the data or the model is too large for this machine)"
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _output_file(path):
    """A path a command may write: its folder exists and it is not a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CliError(f"cannot write {path!r}: it is a folder")
    return path


def _output_folder(path):
    """A folder a command may fill: absent (it is made) or a folder."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CliError(f"--out {path!r} exists and is not a folder")
    return path


if __name__ == "__main__":
    sys.exit(main())
