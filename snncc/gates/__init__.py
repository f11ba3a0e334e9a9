"""Gate-to-spiking-circuit lowering core (algorithms.md §2, AMOS / FS neurons).

A scalar gate y = f(x) (ReLU, sigmoid, SiLU, GELU, ...) becomes an `FSCircuit`: K sub-neurons / steps with
thresholds T(t), resets h(t) and output weights d(t), each spiking at most once. `get_circuit(gate, K, x_range)` is
the entry point for a lowering pass: closed form for ReLU/Clip, the shipped pre-fitted table, a cached refit, or an
affine reuse of another gate's circuit. New gates are added with `register_gate`.
"""

from snncc.gates.gate import (AffineReuse, Gate, GateFunction, Lowering, UnknownGateError, get_gate, register_gate,
                              registered_gates)
from snncc.gates import builtin_gates  # noqa: F401  (importing it registers the built-in gates)
from snncc.gates.circuit import (FSCircuit, affine_circuit, approximation_error, fs_forward, mean_spike_count,
                                 relu_circuit, spike_counts)
from snncc.gates.fit import FitSettings, fit_circuit, importance_weight, loss_and_gradient
from snncc.gates.table import (GateTable, GateTableError, get_circuit, parse_gate_table, read_gate_table,
                               shipped_gate_table, write_gate_table)

__all__ = [
    "AffineReuse",
    "FSCircuit",
    "FitSettings",
    "Gate",
    "GateFunction",
    "GateTable",
    "GateTableError",
    "Lowering",
    "UnknownGateError",
    "affine_circuit",
    "approximation_error",
    "fit_circuit",
    "fs_forward",
    "get_circuit",
    "get_gate",
    "importance_weight",
    "loss_and_gradient",
    "mean_spike_count",
    "parse_gate_table",
    "read_gate_table",
    "register_gate",
    "registered_gates",
    "relu_circuit",
    "shipped_gate_table",
    "spike_counts",
    "write_gate_table",
]
