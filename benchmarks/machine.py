"""What every benchmark prints first: the CPU it ran on; and how the ones
that check pyae's targets print them."""

from __future__ import annotations

from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def print_targets(targets) -> None:
    """targets: (what, measured, goal, met) tuples, printed with this CPU."""
    print(f"# targets on {cpu_model()}")
    for what, measured, goal, met in targets:
        print(f"  {what:<58} {measured:>8}  {goal:<10} {'met' if met else 'NOT MET'}")
