"""The legal range of every op attribute, checked by `verify` on every graph (every pass, every loaded file), so that
a crafted .snnir or text file never reaches a kernel with a value it cannot run (a zero kernel, a negative pad, a
non-positive threshold).

Rules are keyed by field name and apply to every op that has the field; the op-specific ones follow.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from snncc.ir.node import ConstRef, Node

# An upper bound for counts that size arrays (phases, levels, steps): far above any real network, far below what
# would exhaust memory before the memory cap could see it.
MAX_COUNT = 1 << 16

# field name -> smallest legal value of each element (ints and tuples of ints)
_INT_MIN = {"kernel": 1, "strides": 1, "dilations": 1, "pads": 0, "groups": 1, "timesteps": 1, "phases": 1,
            "levels": 1, "steps": 0}
# fields whose values may be +-inf (an absent clip bound, no negative threshold)
_INF_OK = {"lo", "hi", "theta_n"}
# neuron thresholds and caps: constants that must be finite and > 0
_POSITIVE_CONSTANTS = {"theta"}


def attribute_problem(node: Node, constants: Mapping[str, np.ndarray]) -> str | None:
    """Why one of `node`'s attributes is out of range, or None."""
    for name, value in node.attributes():
        problem = _field_problem(name, value, constants)
        if problem:
            return problem
    return _op_problem(node)


def _field_problem(name: str, value: Any, constants: Mapping[str, np.ndarray]) -> str | None:
    if isinstance(value, ConstRef):
        if name in _POSITIVE_CONSTANTS and value in constants:
            array = np.asarray(constants[value])
            if array.dtype.kind not in "fiu":
                return f"{name} @{value} is not numeric ({array.dtype})"
            if array.size and not np.all(array > 0):
                return f"{name} @{value} must be positive everywhere (min {float(np.min(array)):g})"
        return None
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            low = _INT_MIN.get(name)
            if low is not None and item < low:
                return f"{name}={_show(value)} must be >= {low}"
            if low is not None and name not in ("pads", "strides") and item > MAX_COUNT:
                return f"{name}={_show(value)} must be <= {MAX_COUNT}"
        elif isinstance(item, float):
            if math.isnan(item) or (math.isinf(item) and name not in _INF_OK):
                return f"{name}={_show(value)} must be a finite number"
    return None


def _op_problem(node: Node) -> str | None:
    op = node.op
    if op == "dense" and node.axis >= 0:
        # the batch axis comes first at run time: a per-sample axis is counted from the end
        return f"axis={node.axis} must be negative (a per-sample axis counted from the end, -1 for the features)"
    if op == "batch_norm" and not node.epsilon >= 0:
        return f"epsilon={node.epsilon:g} must be >= 0"
    if op in ("conv", "avg_pool", "max_pool", "first_spike_pool"):
        spatial = len(node.strides)
        if len(node.pads) != 2 * spatial or len(getattr(node, "kernel", node.strides)) != spatial or \
                len(getattr(node, "dilations", node.strides)) != spatial:
            return (f"strides {_show(node.strides)}, pads {_show(node.pads)} and kernel/dilations do not agree on "
                    "the number of spatial axes")
    return None


def _show(value: Any) -> str:
    return "(" + ", ".join(str(v) for v in value) + ")" if isinstance(value, tuple) else str(value)
