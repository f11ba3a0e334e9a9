"""The short CI budget of the mutation fuzzer: a fixed (derandomized) set of mutated inputs must give only
documented errors, no hang and no file outside the output folder. The long run: `python -m tests.fuzz --minutes 10`."""

from __future__ import annotations

from tests.fuzz.engine import fuzz
from tests.fuzz.harness import Stats, bundled_seeds


def test_mutated_inputs_only_raise_documented_errors():
    seeds = bundled_seeds(include_models=True, limit_models=1)
    assert {s.kind for s in seeds} == {"onnx", "snnir", "text"}
    stats = fuzz(seeds, Stats(), examples=60, derandomize=True)
    assert stats.cases == 60
    assert stats.refused > 0                     # the mutations do reach the error paths
    report = "\n\n".join(f"{f.problem} on a mutated {f.seed}:\n{f.detail}" for f in stats.findings[:3])
    assert not stats.findings, report
