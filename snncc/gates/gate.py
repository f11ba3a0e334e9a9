"""Scalar gates (activation functions) and the name-to-gate registry that the FS lowering draws from.

A gate is a scalar function f applied element-wise to a layer's pre-activation x. The FS/AMOS lowering
(algorithms.md §2) replaces it by a circuit of K spiking sub-neurons (see `snncc.gates.circuit`). A gate says how
that circuit is obtained:

- `Lowering.CLOSED_FORM` (ReLU / Clip family): binary successive approximation, T(t) = h(t) = d(t) = alpha * 2^-t,
  t = 1..K, compared with `>=`; alpha is the clip bound or the calibrated maximum of x (§2.4a).
- `Lowering.FITTED`: (T, h, d) fitted by surrogate-gradient descent on the gate's input range (§2.4b), or read from
  the shipped table.
- `Lowering.AFFINE`: reuse of another gate's circuit through g(x) = c * f(a*x + b) + e with a > 0 (§2.4c).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

GateFunction = Callable[[np.ndarray], np.ndarray]


class Lowering(str, enum.Enum):
    """How a gate's FS circuit is obtained."""

    CLOSED_FORM = "closed_form"
    FITTED = "fitted"
    AFFINE = "affine"


@dataclass(frozen=True, slots=True, kw_only=True)
class AffineReuse:
    """g(x) = c * f(a*x + b) + e, where f is the gate named `base`.

    The circuit of g is the circuit of f with T' = (T - b)/a, h' = h/a, d' = c*d, and e added to the next layer's
    bias (`FSCircuit.bias_offset`). The spike trains are the same, so a > 0 is required (a < 0 would reverse the
    comparisons). An input range [lo, hi] of g maps to [a*lo + b, a*hi + b] for f.
    """

    base: str
    a: float
    b: float = 0.0
    c: float = 1.0
    e: float = 0.0

    def __post_init__(self) -> None:
        for field_name in ("a", "b", "c", "e"):
            value = getattr(self, field_name)
            if not math.isfinite(value):
                raise ValueError(f"affine reuse of {self.base!r}: {field_name} must be finite, got {value}")
        if self.a <= 0:
            raise ValueError(
                f"affine reuse of {self.base!r}: a must be > 0 (got {self.a}); for a < 0 write the gate through "
                f"the mirrored base f(-x) instead"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Gate:
    """A scalar activation function y = f(x) and how its FS circuit is built.

    `function` is the exact gate, vectorised over numpy arrays; it is the fit target and the reference the circuit's
    error is measured against. `default_K` and `default_range` = (lo, hi) are used when the caller gives no K or
    input range. `affine` is set exactly when `lowering` is `Lowering.AFFINE`. `rest_support` = (s_lo, s_hi), when
    given, says that f(x) - relu(x) is 0 outside it: `lower-gates` then builds the gate as the exact ReLU circuit plus
    a staircase circuit for that rest (`snncc.gates.levels`), registered as the gate `<name>_rest`; `rest_period` p
    says that the rest repeats with period p on its support (`level_circuit`'s `period`).
    """

    name: str
    function: GateFunction
    default_K: int
    default_range: tuple[float, float]
    lowering: Lowering
    affine: AffineReuse | None = None
    description: str = ""
    rest_support: tuple[float, float] | None = None
    rest_period: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a gate needs a non-empty string name, got {self.name!r}")
        if not callable(self.function):
            raise ValueError(f"gate {self.name!r}: function must be callable, got {type(self.function).__name__}")
        if not isinstance(self.default_K, int) or self.default_K < 1:
            raise ValueError(f"gate {self.name!r}: default_K must be an integer >= 1, got {self.default_K!r}")
        lo, hi = self.default_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"gate {self.name!r}: default_range must be finite with lo < hi, got {self.default_range}")
        if not isinstance(self.lowering, Lowering):
            raise ValueError(f"gate {self.name!r}: lowering must be a Lowering, got {self.lowering!r}")
        if (self.lowering is Lowering.AFFINE) != (self.affine is not None):
            raise ValueError(
                f"gate {self.name!r}: give `affine=AffineReuse(...)` exactly when lowering is Lowering.AFFINE"
            )
        if self.rest_support is not None and not (all(math.isfinite(v) for v in self.rest_support)
                                                  and self.rest_support[0] < self.rest_support[1]):
            raise ValueError(f"gate {self.name!r}: rest_support must be finite with lo < hi, got {self.rest_support}")
        if self.rest_period is not None and not (self.rest_support is not None and 0 < self.rest_period
                                                 < self.rest_support[1] - self.rest_support[0]):
            raise ValueError(f"gate {self.name!r}: rest_period must lie in (0, width of rest_support), got "
                             f"{self.rest_period}")
        if self.lowering is Lowering.CLOSED_FORM and hi <= 0:
            raise ValueError(f"gate {self.name!r}: a closed-form gate needs default_range[1] > 0 (it is alpha)")


class UnknownGateError(KeyError):
    """Raised by `get_gate` for a name that is not registered; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, Gate] = {}


def register_gate(gate: Gate, *, replace: bool = False) -> Gate:
    """Add `gate` to the registry under `gate.name` and return it.

    A name that is already taken raises ValueError unless `replace=True`. An affine gate's base must be registered
    first.
    """
    if not isinstance(gate, Gate):
        raise TypeError(f"register_gate expects a Gate, got {type(gate).__name__}")
    if gate.name in _REGISTRY and not replace:
        raise ValueError(f"gate {gate.name!r} is already registered; pass replace=True to overwrite it")
    if gate.affine is not None:
        get_gate(gate.affine.base)
    _REGISTRY[gate.name] = gate
    return gate


def get_gate(name: str) -> Gate:
    """The registered gate called `name`; an unknown name raises `UnknownGateError` (a KeyError)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise UnknownGateError(
            f"unknown gate {name!r}; registered gates: {known}. To add one, build a snncc.gates.Gate(name=..., "
            f"function=..., default_K=..., default_range=(lo, hi), lowering=Lowering.FITTED) and pass it to "
            f"snncc.gates.register_gate"
        ) from None


def registered_gates() -> tuple[str, ...]:
    """Names of all registered gates, sorted."""
    return tuple(sorted(_REGISTRY))
