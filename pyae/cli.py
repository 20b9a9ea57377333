"""The ``pyae`` command.

    pyae demo [--epochs N] [--out DIR]   train an autoencoder on MNIST (or the
                                         bundled 8x8 digits offline), report
                                         held-out error, save the model
    pyae info MODEL                      architecture and training metadata

Bad arguments exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CliError(message)


def _demo_data(seed):
    """MNIST's 10k test digits split 8000 train / 2000 held out, or the
    scikit-learn 8x8 digits when MNIST is absent."""
    from . import datasets

    try:
        X, _ = datasets.load_mnist("test")
        source = "MNIST t10k (8000 train / 2000 held out)"
    except datasets.DatasetNotFound:
        try:
            X, _ = datasets.load_digits()
        except ImportError as e:
            raise CliError(f"MNIST not found and no fallback: {e}") from None
        source = "scikit-learn 8x8 digits (MNIST not found; set PYAE_DATA_DIR)"
    order = np.random.default_rng(seed).permutation(len(X))
    n_train = int(0.8 * len(X))
    return X[order[:n_train]], X[order[n_train:]], source


def cmd_demo(args):
    import pyae

    X_train, X_test, source = _demo_data(args.seed)
    D = X_train.shape[1]
    hidden = (256, 64) if D >= 256 else (max(D // 2, 2), max(D // 4, 2))
    print(f"data: {source}; {len(X_train)} x {D} train, {len(X_test)} held out")
    print(f"model: {D}-{'-'.join(map(str, hidden + hidden[-2::-1]))}-{D} sigmoid autoencoder, "
          f"MSE, Adam; {pyae.get_num_threads()} threads ({pyae.simd_level()})")
    ae = pyae.Autoencoder(hidden=hidden, epochs=1, batch_size=128, seed=args.seed,
                          verbose=args.verbose)
    ae.partial_fit(X_train[:1])  # builds the untrained model
    before = float(ae.score_samples(X_test).mean())
    t = time.perf_counter()
    ae.set_params(epochs=args.epochs).fit(X_train, validation_data=X_test)
    elapsed = time.perf_counter() - t
    after = float(ae.score_samples(X_test).mean())
    rate = args.epochs * len(X_train) / elapsed
    print(f"trained {args.epochs} epochs in {elapsed:.2f} s ({rate:,.0f} samples/s)")
    print(f"held-out reconstruction MSE: untrained {before:.5f} -> trained {after:.5f} "
          f"({before / after:.1f}x lower)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "autoencoder.safetensors")
    ae.save(path)
    print(f"model saved to {path}")
    return 0


def cmd_info(args):
    import pyae

    try:
        model = pyae.load(args.model)
    except pyae.ModelFileError as e:
        raise CliError(str(e)) from None
    widths = "-".join(map(str, model.layer_widths_))
    hist = model.history_["loss"]
    print(f"{type(model).__name__} {widths}")
    print(f"activations: {', '.join(model.activations_)}; loss: {model.loss}; "
          f"tied weights: {model.tied_weights}; optimizer: {model.optimizer}")
    print(f"parameters: {model.network_.params.size}; training steps: "
          f"{model.network_.step_count}; epochs: {len(hist)}"
          + (f"; last loss {hist[-1]:.6f}" if hist else ""))
    return 0


def build_parser():
    p = _Parser(prog="pyae", description="Fast autoencoders with a C++ core.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = sub.add_parser("demo", help="train an autoencoder on digits and report held-out error")
    d.add_argument("--epochs", type=int, default=20)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="pyae-demo", help="folder for the model file")
    d.add_argument("--verbose", action="store_true", help="show a progress bar")
    d.set_defaults(func=cmd_demo)
    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "epochs", 1) < 1:
            raise CliError("--epochs must be >= 1")
        return args.func(args)
    except CliError as e:
        print(f"pyae: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"pyae: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pyae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
