"""Hypothesis drives the mutations: it draws a seed file, one to three mutations (structured protobuf edits or raw
byte edits) and how the case is run (library API or CLI, with or without a short simulation)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from snncc.ir import OP_REGISTRY
from snncc.limits import memory_cap
from tests.fuzz.harness import FUZZ_MEMORY_CAP, SLOW_CODINGS, Seed, Stats, make_sandbox, run_case
from tests.fuzz.mutators import mutate_bytes, mutate_onnx, mutate_snnir, mutate_text, pipeline_string


def mutated(draw, seed: Seed) -> bytes:
    data = seed.data
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 3)) == 0:
            data = mutate_bytes(draw, data)
        elif seed.kind == "onnx":
            data = mutate_onnx(draw, data)
        elif seed.kind == "text":
            data = mutate_text(draw, data)
        else:
            data = mutate_snnir(draw, data, sorted(OP_REGISTRY))
    return data


def fuzz(seeds: list[Seed], stats: Stats, *, examples: int, seed: int | None = None, derandomize: bool = False,
         cli_every: int = 8) -> Stats:
    """Run `examples` hypothesis-generated cases (findings are recorded in `stats`, never raised, so one finding
    does not stop the run)."""
    from snncc.pipeline import CODINGS

    codings = sorted(CODINGS)   # every registered coding's pipeline is a target
    # amos fits gate circuits per layer: tens of seconds on a bundled CNN, a legitimate compile time that the 10-s
    # hang limit would flag; it is fuzzed on the tiny seed only
    fast_codings = [c for c in codings if c not in SLOW_CODINGS] or codings
    sandbox = tempfile.TemporaryDirectory(prefix="snncc-fuzz-")
    root = make_sandbox(Path(sandbox.name))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def case(data):
        # modulo spreads the choice: hypothesis favours small integers, which would mostly pick seed 0
        s = seeds[data.draw(st.integers(0, 1 << 16), label="seed") % len(seeds)]
        payload = mutated(data.draw, s)
        via_cli = data.draw(st.integers(0, 1 << 16)) % cli_every == 0
        choices = codings if s.name == "tiny" else fast_codings
        coding = choices[data.draw(st.integers(0, 1 << 16)) % len(choices)] if s.kind == "onnx" else "rate"
        # an ONNX case sometimes keeps the seed model intact and fuzzes the pass pipeline string instead
        pipeline = None
        if s.kind == "onnx" and data.draw(st.integers(0, 1 << 16)) % 4 == 0:
            pipeline = pipeline_string(data.draw)
            payload = s.data if data.draw(st.booleans()) else payload
        run_case(s, payload, root, via_cli=via_cli, simulate=data.draw(st.booleans()), stats=stats,
                 command=data.draw(st.integers(0, 3)), coding=coding, pipeline=pipeline)

    if seed is not None:
        from hypothesis import seed as with_seed

        case = with_seed(seed)(case)
    cwd = os.getcwd()
    try:
        os.chdir(root)   # a stray relative write lands in the sandbox, where the snapshot sees it
        with memory_cap(FUZZ_MEMORY_CAP):
            case()
    finally:
        os.chdir(cwd)
        sandbox.cleanup()
    return stats
