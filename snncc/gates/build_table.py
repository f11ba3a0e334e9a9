"""Build the shipped gate table: `python -m snncc.gates.build_table [--output PATH] [--jobs N]`.

Every entry is the best (lowest MSE on its range) of the `fit_circuit` runs with the seeds `TABLE_SEEDS` and the
settings `TABLE_FIT_SETTINGS`, plus a warm start from the previous K of the same gate and range. The output depends
only on these constants, not on `--jobs`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from snncc.gates.circuit import FSCircuit, mean_spike_count
from snncc.gates.fit import FitSettings, fit_circuit
from snncc.gates.table import TABLE_FILE, GateTable, write_gate_table


@dataclass(frozen=True, slots=True, kw_only=True)
class TableEntry:
    """One circuit of the table: gate name, K and input range."""

    gate: str
    K: int
    x_range: tuple[float, float]


TABLE_ENTRIES: tuple[TableEntry, ...] = (
    *(TableEntry(gate="sigmoid", K=K, x_range=(-10.0, 10.0)) for K in range(4, 17)),
    *(TableEntry(gate="silu", K=K, x_range=(-4.0, 4.0)) for K in range(4, 17)),
    TableEntry(gate="silu", K=16, x_range=(-8.0, 12.0)),
    TableEntry(gate="hard_sigmoid", K=10, x_range=(-4.0, 4.0)),
    TableEntry(gate="hardswish", K=16, x_range=(-4.0, 4.0)),
    TableEntry(gate="gelu", K=16, x_range=(-4.0, 4.0)),
    TableEntry(gate="leaky_relu", K=12, x_range=(-4.0, 4.0)),
)
TABLE_FIT_SETTINGS = FitSettings()
TABLE_SEEDS: tuple[int, ...] = tuple(range(6))


def fit_table_entry(entry: TableEntry, settings: FitSettings = TABLE_FIT_SETTINGS,
                    seeds: Sequence[int] = TABLE_SEEDS, warm_start: FSCircuit | None = None) -> FSCircuit:
    """The lowest-MSE circuit over one `fit_circuit` run per seed; the first run also polishes `warm_start`."""
    fits = [fit_circuit(entry.gate, entry.K, entry.x_range, settings=dataclasses.replace(settings, seed=seed),
                        warm_start=warm_start if index == 0 else None)
            for index, seed in enumerate(seeds)]
    return min(fits, key=lambda circuit: circuit.mse)


def fit_table_chain(entries: Sequence[TableEntry], settings: FitSettings = TABLE_FIT_SETTINGS,
                    seeds: Sequence[int] = TABLE_SEEDS) -> list[tuple[FSCircuit, float, float]]:
    """Fit the entries of one gate and range in increasing K, each warm-started from the one before.

    A K-step circuit contains the (K-1)-step one (an added sub-neuron with d = 0 changes nothing), so the chain's MSE
    does not grow with K. Returns (circuit, wall seconds, CPU seconds) per entry, in the order given.
    """
    results: dict[TableEntry, tuple[FSCircuit, float, float]] = {}
    previous = None
    for entry in sorted(entries, key=lambda entry: entry.K):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        previous = fit_table_entry(entry, settings, seeds, warm_start=previous)
        results[entry] = (previous, time.perf_counter() - wall_started, time.process_time() - cpu_started)
    return [results[entry] for entry in entries]


def build_gate_table(entries: Sequence[TableEntry] = TABLE_ENTRIES, settings: FitSettings = TABLE_FIT_SETTINGS,
                     seeds: Sequence[int] = TABLE_SEEDS, jobs: int = 1, log=print) -> GateTable:
    """Fit every entry and return the table; chains of one gate and range run in `jobs` processes.

    `log` gets one summary line per entry and a total.
    """
    chains: dict[tuple[str, tuple[float, float]], list[TableEntry]] = {}
    for entry in entries:
        chains.setdefault((entry.gate, entry.x_range), []).append(entry)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else contextlib.nullcontext()
    with pool as executor:
        parallel_map = executor.map if executor is not None else map
        chain_results = parallel_map(fit_table_chain, chains.values(), [settings] * len(chains),
                                     [tuple(seeds)] * len(chains))
        fitted: dict[TableEntry, FSCircuit] = {}
        total_cpu_seconds = 0.0
        for chain, results in zip(chains.values(), chain_results):
            for entry, (circuit, wall_seconds, cpu_seconds) in zip(chain, results):
                fitted[entry] = circuit
                total_cpu_seconds += cpu_seconds
                log(f"{circuit.gate:>12} K={circuit.K:<2} x in [{circuit.x_range[0]:g}, {circuit.x_range[1]:g}]: "
                    f"max abs error {circuit.max_abs_error:.4f}, MSE {circuit.mse:.2e}, "
                    f"mean spikes {mean_spike_count(circuit):.2f}  "
                    f"(wall {wall_seconds:.0f} s, cpu {cpu_seconds:.0f} s)")
    log(f"fitted {len(fitted)} circuits in {total_cpu_seconds:.0f} s of CPU")
    provenance = {"built_by": "python -m snncc.gates.build_table",
                  "selection": "lowest MSE over seeds; each K warm-started from the K-1 fit of its gate and range",
                  "seeds": list(seeds), "settings": dataclasses.asdict(settings)}
    return GateTable(circuits=tuple(fitted[entry] for entry in entries), provenance=provenance)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m snncc.gates.build_table", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name(TABLE_FILE),
                        help=f"where to write the table (default: the packaged {TABLE_FILE})")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (the result does not depend on it)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    started = time.perf_counter()
    table = build_gate_table(jobs=args.jobs, log=functools.partial(print, flush=True))
    write_gate_table(table, args.output)
    print(f"wrote {len(table.circuits)} circuits to {args.output} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
