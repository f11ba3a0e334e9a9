"""The CI budget of the structure-aware fuzzer (tests/fuzz/structured.py): a fixed, derandomized set of crafted IR
graphs, ONNX graphs, mapping files and profiles gives only exit 0/1/2 with one clear message, no hang, no stray
file. By hand: `python -m tests.fuzz.structured --minutes 10`."""

from __future__ import annotations

from tests.fuzz.structured import run


def test_structured_inputs_only_give_documented_outcomes():
    outcome = run(40, derandomize=True)
    assert outcome.cases >= 30
    assert outcome.codes.get(2, 0) > 0            # the crafted values do reach the error paths
    assert not outcome.findings, "\n\n".join(outcome.findings[:3])
