"""The command line every example shares: --quick (a few seconds, for CI)
and --out (the folder for its figures)."""

import argparse
import os


def parse(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true",
                    help="small data and few epochs: seconds, for CI (the figures look rough)")
    ap.add_argument("--out", default="example-output", help="folder for the figures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args


def save(fig, args, name):
    path = os.path.join(args.out, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"figure written to {path}")
