"""The names of pyae's enums, read from the compiled core (csrc/math/enums.h
defines each list once): name -> pyae._core enum member. Python code and the
tests iterate over these, so a new C++ value appears here by itself."""

from __future__ import annotations

from . import _core


def _members(enum) -> dict:
    return dict(enum.__members__)


ACTIVATIONS = _members(_core.Activation)
LOSSES = _members(_core.Loss)
OPTIMIZERS = _members(_core.OptimizerKind)
NOISE_KINDS = _members(_core.NoiseKind)
LAYER_ROLES = _members(_core.LayerRole)
PRECISIONS = _members(_core.Precision)
