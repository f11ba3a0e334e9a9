"""Structure-aware fuzzing (issue 19): inputs built from their structure, not from bytes. Hypothesis draws

- compiled IR graphs (a small conv network) with node attributes and thresholds set to random, including
  impossible, values (negative pads, zero kernels, huge counts, NaN), written as .snnir;
- ONNX graphs whose node attributes are set the same way;
- mapping files with any field (at any depth) replaced by a value of another shape, and hardware profiles with any
  field replaced, both following the mapping schema (`snncc.backends.coremap.schema`),

and runs each through the commands that read it. A case passes when the command exits 0, 1 (a mapping with
violations) or 2 (one `error:` line) within HANG_SECONDS and writes nothing but its declared output; anything else is
a finding. CI runs a fixed small budget (tests/fuzz/test_structured.py); by hand:
`python -m tests.fuzz.structured --minutes 10`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from onnx import helper

from tests.fuzz.mutators import HOSTILE_FLOATS, HOSTILE_INTS

HANG_SECONDS = 20
HOSTILE_JSON = [None, True, -1, 0, 1.5, 1 << 70, float("-0.0"), "", "x" * 300, "\x1b[2J", [], [1, 2, 3], {},
                {"a": {"b": []}}, [[[[[]]]]]]


@dataclass
class Outcome:
    cases: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


class _Hang(BaseException):
    pass


def _cli(args: list) -> tuple[int, str]:
    from snncc.cli import main

    def expired(signum, frame):
        raise _Hang

    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(HANG_SECONDS)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([str(a) for a in args])
    except _Hang:
        code = -1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


def _judge(outcome: Outcome, what: str, args: list, folder: Path, allowed: set[str]) -> None:
    outcome.cases += 1
    before = set(p.name for p in folder.iterdir())
    start = time.monotonic()
    code, err = _cli(args)
    outcome.codes[code] = outcome.codes.get(code, 0) + 1
    stray = set(p.name for p in folder.iterdir()) - before - allowed
    problem = None
    if code == -1:
        problem = f"hang over {HANG_SECONDS} s"
    elif code not in (0, 1, 2):
        problem = f"exit {code}"
    elif code == 2 and ("Traceback" in err or "error: " not in err and "Usage:" not in err):
        # (numpy's RuntimeWarnings may come before the message, onnx's own messages span lines)
        problem = "not one clear message"
    elif stray:
        problem = f"stray files {sorted(stray)}"
    if problem:
        outcome.findings.append(f"{what}: {problem} ({time.monotonic() - start:.1f} s): "
                                f"{' '.join(map(str, args[:2]))}\n{err.strip()[-600:]}")
    for name in set(p.name for p in folder.iterdir()) - before:   # the next case starts clean
        path = folder / name
        if path.is_file():
            path.unlink()


# -- the seeds ---------------------------------------------------------------------------------------------------------

def make_seeds(folder: Path) -> dict:
    """A small conv network as ONNX, compiled (.snnir), mapped (mapping file), with its data and a profile."""
    from snncc.backends.coremap import load_profile
    from snncc.cli import main
    from snncc.ir import load
    from tests.helpers import make_model

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1, name="fc")]
    inits = {"w": rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "b": np.zeros(2, np.float32),
             "w2": rng.standard_normal((3, 18)).astype(np.float32)}
    model = make_model(nodes, [1, 6, 6], [3], inits)
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    np.savez(folder / "d.npz", x=np.abs(rng.standard_normal((16, 1, 6, 6))).astype(np.float32),
             y=rng.integers(0, 3, 16))
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(["compile", str(folder / "m.onnx"), "--calib", str(folder / "d.npz"), "-o",
                     str(folder / "m.snnir"), "--target", "generic", "--no-progress"])
    assert code == 0, "the seed network does not compile"
    return {"onnx": model, "graph": load(folder / "m.snnir"),
            "mapping": json.loads((folder / "m.map.json").read_text()),
            "profile": load_profile("generic").to_json()}


# -- strategies --------------------------------------------------------------------------------------------------------

def hostile_like(draw, value):
    """A value of the same kind as `value`, drawn from boundary and impossible ones."""
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int):
        return draw(st.sampled_from(HOSTILE_INTS))
    if isinstance(value, float):
        return draw(st.sampled_from(HOSTILE_FLOATS))
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        size = draw(st.sampled_from([len(value), len(value), 0, 1, len(value) + 1]))
        return tuple(draw(st.sampled_from(HOSTILE_INTS)) for _ in range(size))
    return value


def crafted_graph(draw, graph):
    """`graph` with 1-3 attributes (or a threshold tensor) set to hostile values, bypassing every check."""
    for _ in range(draw(st.integers(1, 3))):
        nodes = list(graph.nodes)
        i = draw(st.integers(0, len(nodes) - 1))
        fields = [(k, v) for k, v in nodes[i].attributes() if not isinstance(v, str) and v is not None]
        if draw(st.booleans()) and "r.theta" in graph.constants:
            scale = draw(st.sampled_from(HOSTILE_FLOATS))
            with np.errstate(all="ignore"):
                theta = (graph.constants["r.theta"] * np.float32(scale)).astype(np.float32)
            graph = graph.with_(constants={**graph.constants, "r.theta": theta})
        elif fields:
            key, value = draw(st.sampled_from(fields))
            nodes[i] = dataclasses.replace(nodes[i], **{key: hostile_like(draw, value)})
            graph = graph.with_(nodes=nodes)
    return graph


def crafted_onnx(draw, model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with 1-3 node attributes set to hostile values (ints, floats, lists of ints)."""
    model = copy.deepcopy(model)
    for _ in range(draw(st.integers(1, 3))):
        node = model.graph.node[draw(st.integers(0, len(model.graph.node) - 1))]
        names = [a.name for a in node.attribute] + ["pads", "strides", "dilations", "group", "alpha", "axis"]
        name = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["int", "ints", "float"]))
        value = {"int": lambda: draw(st.sampled_from(HOSTILE_INTS)),
                 "ints": lambda: [draw(st.sampled_from(HOSTILE_INTS)) for _ in range(draw(st.integers(1, 5)))],
                 "float": lambda: draw(st.sampled_from(HOSTILE_FLOATS))}[kind]()
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return model


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, prefix + (i,))


def crafted_json(draw, doc):
    """`doc` with 1-3 fields, at any depth, replaced by a value of another shape (or removed)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.integers(0, 5)) == 0:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(HOSTILE_JSON)))
    return doc


# -- the run -----------------------------------------------------------------------------------------------------------

def run(examples: int, *, seed: int | None = None, derandomize: bool = False) -> Outcome:
    from snncc.ir import to_bytes
    from snncc.limits import memory_cap

    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="snncc-sfuzz-") as tmp, memory_cap("512M"):
        folder = Path(tmp)
        seeds = make_seeds(folder)
        work = folder / "case"
        work.mkdir()

        @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(st.data())
        def case(data):
            draw = data.draw
            kind = draw(st.sampled_from(["ir", "onnx", "mapping", "profile"]))
            if kind == "ir":
                path = work / "g.snnir"
                try:
                    path.write_bytes(to_bytes(crafted_graph(draw, seeds["graph"])))
                except Exception:  # noqa: BLE001 - the serializer refuses some values itself: not an input
                    return
                command = draw(st.sampled_from(["eval", "map", "export", "inspect"]))
                args = {"eval": ["eval", path, "--data", folder / "d.npz"],
                        "map": ["map", path, "--profile", "generic", "-o", work / "o.map.json"],
                        "export": ["export", path, "--format", "text", "--full", "-o", work / "o.txt"],
                        "inspect": ["inspect", path]}[command]
                _judge(outcome, f"crafted IR, {command}", args, work, {"g.snnir", "o.map.json", "o.txt"})
            elif kind == "onnx":
                path = work / "m.onnx"
                path.write_bytes(crafted_onnx(draw, seeds["onnx"]).SerializeToString())
                _judge(outcome, "crafted ONNX, compile",
                       ["compile", path, "--calib", folder / "d.npz", "-o", work / "o.snnir", "--no-progress"],
                       work, {"m.onnx", "o.snnir"})
            elif kind == "mapping":
                path = work / "m.map.json"
                path.write_text(json.dumps(crafted_json(draw, seeds["mapping"])))
                _judge(outcome, "crafted mapping, map --check", ["map", "--check", folder / "m.snnir", path],
                       work, {"m.map.json"})
            else:
                path = work / "p.json"
                path.write_text(json.dumps(crafted_json(draw, seeds["profile"])))
                _judge(outcome, "crafted profile, map",
                       ["map", folder / "m.snnir", "--profile", path, "-o", work / "o.map.json"], work,
                       {"p.json", "o.map.json"})
            for p in work.iterdir():
                if p.is_file():
                    p.unlink()

        if seed is not None:
            from hypothesis import seed as hypothesis_seed

            case = hypothesis_seed(seed)(case)
        case()
    return outcome


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.structured", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    start, total, chunk_seed = time.monotonic(), Outcome(), args.seed
    while time.monotonic() - start < args.minutes * 60:
        part = run(50, seed=chunk_seed)
        total.cases += part.cases
        total.findings += part.findings
        for k, v in part.codes.items():
            total.codes[k] = total.codes.get(k, 0) + v
        chunk_seed += 1
        print(f"[{(time.monotonic() - start) / 60:5.1f} min] {total.cases} cases, exit codes {total.codes}, "
              f"{len(total.findings)} findings", flush=True)
    for finding in dict.fromkeys(total.findings):
        print(f"\n--- {finding}")
    return 1 if total.findings else 0


if __name__ == "__main__":
    sys.exit(main())
