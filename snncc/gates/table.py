"""The shipped table of pre-fitted FS circuits, and `get_circuit`, the one call a lowering pass needs.

`gate_table_v1.json` (built by `python -m snncc.gates.build_table`) is plain JSON:

    {"format": "snncc-fs-gate-table", "version": 1, "convention": "...", "provenance": {...},
     "entries": [{"gate": "sigmoid", "K": 12, "x_range": [-10.0, 10.0], "thresholds": [...], "resets": [...],
                  "output_weights": [...], "ge": false, "bias_offset": 0.0, "max_abs_error": ..., "mse": ...}, ...]}

Each entry holds exactly the fields of `FSCircuit`, so reading and writing walk `dataclasses.fields(FSCircuit)` and
the circuit's own checks validate the values.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncc.gates import cache as gate_cache
from snncc.gates.circuit import FSCircuit, affine_circuit, approximation_error, relu_circuit
from snncc.gates.fit import FitSettings, fit_circuit
from snncc.gates.gate import Gate, Lowering, get_gate

TABLE_FORMAT = "snncc-fs-gate-table"
TABLE_VERSION = 1
TABLE_FILE = "gate_table_v1.json"
CIRCUIT_CONVENTION = "v(1)=x; z(t)=[v(t)>T(t)] ([>=] if ge); v(t+1)=v(t)-h(t)z(t); y=sum_t d(t)z(t)+bias_offset"
_CIRCUIT_FIELDS = tuple(field.name for field in dataclasses.fields(FSCircuit))


class GateTableError(ValueError):
    """A gate table file that is not a valid table of this format version."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GateTable:
    """Pre-fitted circuits, several per gate (one per K and input range); `provenance` says how they were built."""

    circuits: tuple[FSCircuit, ...]
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False, compare=False)

    def lookup(self, gate: str, K: int, x_range: tuple[float, float]) -> FSCircuit | None:
        """The circuit for (gate, K) with the narrowest range that contains `x_range`, or None."""
        lo, hi = x_range
        covering = [circuit for circuit in self.circuits if circuit.gate == gate and circuit.K == K
                    and circuit.x_range[0] <= lo and hi <= circuit.x_range[1]]
        return min(covering, key=lambda circuit: circuit.x_range[1] - circuit.x_range[0], default=None)


def circuit_to_json(circuit: FSCircuit) -> dict[str, Any]:
    """One table entry: the circuit's fields, tuples as lists."""
    entry = {}
    for name in _CIRCUIT_FIELDS:
        value = getattr(circuit, name)
        entry[name] = list(value) if isinstance(value, tuple) else value
    return entry


def circuit_from_json(entry: Any) -> FSCircuit:
    """Inverse of `circuit_to_json`; raises GateTableError naming missing or unknown keys."""
    if not isinstance(entry, dict):
        raise GateTableError(f"an entry must be a JSON object, got {type(entry).__name__}")
    missing = sorted(set(_CIRCUIT_FIELDS) - set(entry))
    unknown = sorted(set(entry) - set(_CIRCUIT_FIELDS))
    if missing or unknown:
        raise GateTableError(f"entry for {entry.get('gate')!r}: missing keys {missing}, unknown keys {unknown}")
    if not isinstance(entry["K"], int) or not isinstance(entry["ge"], bool):
        raise GateTableError(f"entry for {entry['gate']!r}: K must be an integer and ge a boolean")
    try:
        return FSCircuit(**entry)
    except (TypeError, ValueError) as error:
        raise GateTableError(str(error)) from error


def parse_gate_table(text: str, source: str = "<string>") -> GateTable:
    """Parse a table from JSON text; errors name `source` and the bad entry."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GateTableError(f"gate table {source}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format") != TABLE_FORMAT:
        raise GateTableError(f"gate table {source}: not a {TABLE_FORMAT!r} file")
    if document.get("version") != TABLE_VERSION:
        raise GateTableError(
            f"gate table {source}: format version {document.get('version')!r}, this snncc reads version "
            f"{TABLE_VERSION}; rebuild it with `python -m snncc.gates.build_table`"
        )
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise GateTableError(f"gate table {source}: 'entries' must be a list")
    circuits = []
    for index, entry in enumerate(entries):
        try:
            circuits.append(circuit_from_json(entry))
        except GateTableError as error:
            raise GateTableError(f"gate table {source}: entry {index}: {error}") from None
    return GateTable(circuits=tuple(circuits), provenance=dict(document.get("provenance", {})))


def format_gate_table(table: GateTable) -> str:
    """The table as JSON text: a header, then one entry per line (floats in shortest round-trip form)."""
    header = {"format": TABLE_FORMAT, "version": TABLE_VERSION, "convention": CIRCUIT_CONVENTION,
              "provenance": table.provenance}
    header_lines = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in header.items()]
    entry_lines = ["  " + json.dumps(circuit_to_json(circuit)) for circuit in table.circuits]
    return "{\n" + ",\n".join(header_lines) + ',\n "entries": [\n' + ",\n".join(entry_lines) + "\n ]\n}\n"


def write_gate_table(table: GateTable, path: str | os.PathLike) -> None:
    """Write the table atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(format_gate_table(table))
    os.replace(handle.name, path)


def read_gate_table(path: str | os.PathLike) -> GateTable:
    """Read a table file (JSON only; nothing in it is executed)."""
    return parse_gate_table(Path(path).read_text(encoding="utf-8"), source=str(path))


@functools.lru_cache(maxsize=1)
def shipped_gate_table() -> GateTable:
    """The table shipped inside the package (`snncc/gates/gate_table_v1.json`), read once."""
    resource = importlib.resources.files("snncc.gates").joinpath(TABLE_FILE)
    return parse_gate_table(resource.read_text(encoding="utf-8"), source=f"snncc/gates/{TABLE_FILE}")


def _rounding_step(lo: float, hi: float) -> float:
    """A power of ten near 1% of the range's width: refit keys are rounded to it, so near-equal ranges share a fit."""
    return 10.0 ** (math.floor(math.log10(hi - lo)) - 2)


def _round_to(value: float, step: float, rounding=round) -> float:
    """`rounding(value / step) * step` without float noise: value / step is first rounded to 6 decimals, and the
    product to the step's digits (step is a power of ten)."""
    digits = max(0, -round(math.log10(step)))
    return round(rounding(round(value / step, 6)) * step, digits)


@functools.lru_cache(maxsize=None)
def _refit(gate: Gate, K: int, x_range: tuple[float, float], mean: float | None, std: float | None,
           settings: FitSettings) -> FSCircuit:
    """`fit_circuit`, cached in-process (identical gates in a network are fitted once) and on disk
    (`snncc.gates.cache`: a second compile does not refit)."""
    key = gate_cache.fit_key(gate, K, x_range, mean, std, settings)
    circuit = gate_cache.load(key)
    if circuit is None:
        circuit = fit_circuit(gate, K, x_range, mean=mean, std=std, settings=settings)
        gate_cache.store(key, circuit)
    return circuit


# A tabled circuit serves a range wider than its own when its max abs error on the union of both ranges is at most
# this factor times its error on its own range. Measured on the shipped table: sigmoid K = 12 [-10, 10] extended to
# [-40, 40], SiLU/GELU K = 16 [-4, 4] to [-20, 4], HardSwish K = 16 [-4, 4] to [-41.3, 4] and HardSigmoid K = 10
# [-4, 4] to [-7.4, 3.4] keep their error (ratio 1.00: the gate and the circuit are both flat there), while HardSwish
# to [-5, 4.2] (4.0x), LeakyRelu to [-4.5, 4] (1.12x) or SiLU to [-8, 12.5] (106x) do not and are refitted.
WIDER_RANGE_TOLERANCE = 1.01


@functools.lru_cache(maxsize=None)
def _error_on(circuit: FSCircuit, gate: Gate, x_range: tuple[float, float]) -> tuple[float, float]:
    return approximation_error(circuit, gate.function, x_range)


def _tabled_over_wider_range(table: GateTable, gate: Gate, K: int,
                             x_range: tuple[float, float]) -> FSCircuit | None:
    """The tabled circuit for (gate, K) that keeps its error on a range wider than its own (the lowest error if
    several do), with x_range and the errors measured on the union of both ranges; None if none does."""
    best = None
    for circuit in table.circuits:
        if circuit.gate != gate.name or circuit.K != K:
            continue
        union = (min(x_range[0], circuit.x_range[0]), max(x_range[1], circuit.x_range[1]))
        error, mse = _error_on(circuit, gate, union)
        if error <= WIDER_RANGE_TOLERANCE * circuit.max_abs_error and (best is None or error < best[1]):
            best = (circuit, error, mse, union)
    if best is None:
        return None
    circuit, error, mse, union = best
    return dataclasses.replace(circuit, x_range=union, max_abs_error=error, mse=mse)


def get_circuit(gate_name: str, K: int | None = None, x_range: tuple[float, float] | None = None,
                mean: float | None = None, std: float | None = None, *,
                fit_settings: FitSettings = FitSettings(), table: GateTable | None = None) -> FSCircuit:
    """The FS circuit with K steps (default: the gate's) for `gate_name` on inputs in `x_range` (default: the gate's).

    - closed form (relu, clip): `relu_circuit(alpha=x_range[1], K)`, exact K-bit floor quantizer; x_range[0] is
      irrelevant (inputs below 0 give 0).
    - fitted: the circuit of `table` (default: the shipped one) for (gate, K) whose range contains x_range, the
      narrowest if several do; else a tabled circuit whose error on the wider range stays within
      WIDER_RANGE_TOLERANCE of its own (x_range and errors then those of the union); otherwise a refit on x_range
      rounded outwards, importance-weighted by (mean, std) when given, and cached in-process by (gate, K, rounded range, rounded mean/std, fit_settings), so identical
      gates fit once, and on disk (`snncc.gates.cache`). mean/std only shape a refit: a table hit ignores them.
    - affine (tanh, ...): the base gate's circuit on [a*lo + b, a*hi + b] (mean -> a*mean + b, std -> a*std),
      mapped by `affine_circuit`; the returned `bias_offset` e goes into the next layer's bias.

    A fitted or tabled circuit's x_range contains the requested one; a closed-form one is exact on (-inf, alpha].
    """
    gate = get_gate(gate_name)
    K = gate.default_K if K is None else K
    if not isinstance(K, int) or isinstance(K, bool) or K < 1:
        raise ValueError(f"gate {gate_name!r}: K must be an integer >= 1, got {K!r}")
    lo, hi = (float(v) for v in (x_range if x_range is not None else gate.default_range))
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"gate {gate_name!r}: x_range must be finite with lo < hi, got {x_range}")
    if (mean is None) != (std is None) or (std is not None and not (math.isfinite(mean) and std > 0)):
        raise ValueError(f"gate {gate_name!r}: give both a finite mean and a std > 0, or neither "
                         f"(got mean={mean}, std={std})")

    if gate.lowering is Lowering.CLOSED_FORM:
        if hi <= 0:
            raise ValueError(f"gate {gate_name!r}: alpha = x_range[1] must be > 0 (clip bound or calibrated max of x), "
                             f"got x_range {(lo, hi)}")
        return relu_circuit(hi, K, gate=gate.name)

    if gate.lowering is Lowering.AFFINE:
        reuse = gate.affine
        base = get_circuit(reuse.base, K, (reuse.a * lo + reuse.b, reuse.a * hi + reuse.b),
                           None if mean is None else reuse.a * mean + reuse.b,
                           None if std is None else reuse.a * std, fit_settings=fit_settings, table=table)
        return affine_circuit(base, reuse.a, reuse.b, reuse.c, reuse.e, gate=gate.name)

    table = table if table is not None else shipped_gate_table()
    step = _rounding_step(lo, hi)
    # outwards: still covers x_range; and calibrated ranges that differ in their last bits between CPUs agree
    fit_range = (_round_to(lo, step, math.floor), _round_to(hi, step, math.ceil))
    tabled = table.lookup(gate.name, K, (lo, hi)) or _tabled_over_wider_range(table, gate, K, fit_range)
    if tabled is not None:
        return tabled
    rounded_mean = None if mean is None else _round_to(mean, step)
    rounded_std = None if std is None else max(_round_to(std, step), step)
    return _refit(gate, K, fit_range, rounded_mean, rounded_std, fit_settings)
