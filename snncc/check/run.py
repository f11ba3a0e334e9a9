"""The pre-flight check: which codings can express a model, from its graph alone (no calibration), in seconds.

For each coding, its pipeline runs on the converted graph: the graph-only passes for real until the first pass
that needs calibration data (it raises DataError), then each remaining pass's registered precondition
(`snncc.passes.preconditions`) on the graph as it stands. A frontend failure (an op without a converter) blocks
every coding; a hardware profile adds its own preconditions (`snncc.check.profile_fit`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from pathlib import Path

import onnx

from snncc.check.verdict import BLOCKED, UNCHECKED, WORKS, CheckReport, Verdict
from snncc.frontend.unsupported_ops import reason
from snncc.errors import DataError, OptionError, ResourceLimitError, SnnccError, UnsupportedModelError
from snncc.ir import Graph
from snncc.passes import PassContext
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, PipelineView, preconditions_for
from snncc.passes.registry import get_pass, parse_pipeline

FRONTEND_FIX = ("no coding can take it until the op converts: see README 'Supported ONNX ops', or register a "
                "converter with snncc.frontend.converter(op_type)")
# passes that consume calibration data whenever a compile has it: the check never runs them (nor what follows)
DATA_PASSES = frozenset({"calibrate"})
# Passes that refuse no graph (fold-out-scale gives a consumer it cannot fold into an explicit synapse): ending the
# pipeline, they are not run by the check, which would otherwise hold a third set of weights for nothing.
CANNOT_BLOCK = frozenset({"fold-out-scale"})
# blocking ops that are post-processing after the network (box decoding, selection): `--outputs` can cut them off
POST_PROCESSING = frozenset({"Softmax", "LogSoftmax", "NonMaxSuppression", "TopK", "ArgMax", "ArgMin"})
_UNSUPPORTED_LINE = re.compile(r"node '(?P<node>[^']*)': op (?P<op>\S+) \(opset")
_NODE_MESSAGE = re.compile(r"node '(?P<node>[^']*)' \((?P<op>[A-Za-z0-9_.:]+)\): (?P<why>.*)", re.S)


def frontend_blockers(exc: UnsupportedModelError, model: onnx.ModelProto | None = None) -> list[Blocker]:
    """The frontend's refusal as blockers: one per unsupported node (why no coding can express it, for the ops
    `snncc.frontend.unsupported_ops` knows), or the node a converter named."""
    text = str(exc)
    nodes = {(n.name, n.op_type): n for n in reversed(model.graph.node)} if model is not None else {}
    found = []
    for m in _UNSUPPORTED_LINE.finditer(text):
        op = m["op"].split("::")[-1]
        node = nodes.get((m["node"], op))
        known = reason(model, node) if node is not None else None
        found.append(Blocker(m["node"], op, known.why, known.fix) if known
                     else Blocker(m["node"], op, "no converter for this op", FRONTEND_FIX))
    if found:
        return _hardest_first(found)
    m = _NODE_MESSAGE.match(text)
    if m:
        return [Blocker(m["node"], m["op"], m["why"].strip(), FRONTEND_FIX)]
    return [Blocker(None, None, text, "")]


def _hardest_first(blockers: list[Blocker]) -> list[Blocker]:
    """Blockers no option or registration can lift first: the table's "would work" is the first blocker's fix."""
    return sorted(blockers, key=lambda b: not (b.fix or "").startswith("no coding can"))


def input_blockers(model: onnx.ModelProto) -> list[Blocker]:
    """Inputs that no coding can feed: integer ids (bytes, tokens) where a spiking network takes a float tensor."""
    from snncc.frontend.convert import integer_input_reason

    inits = {i.name for i in model.graph.initializer}
    return [Blocker(vi.name, "input", why, "no coding can; a model with a float input (pixels, features) can")
            for vi in model.graph.input if vi.name not in inits and (why := integer_input_reason(vi))]


def size_free_blockers(model: onnx.ModelProto) -> list[Blocker]:
    """The nodes without a converter that no coding can express whatever the input sizes (recurrent layers, control
    flow, quantised kernels, normalisations: `snncc.frontend.unsupported_ops`); shape arithmetic that folds away
    once the sizes are known is not among them."""
    from snncc.frontend.converters import CONVERTERS

    found = []
    for node in model.graph.node:
        if (node.domain or "ai.onnx") == "ai.onnx" and node.op_type in CONVERTERS:
            continue
        if (known := reason(model, node)) is not None:
            found.append(Blocker(node.name, node.op_type, known.why, known.fix))
    return _hardest_first(found)


def check_pipeline(graph: Graph, pipeline: str, coding: str, timesteps: int | None = None,
                   cache: dict | None = None) -> Verdict:
    """One coding's verdict: graph-only passes run for real, preconditions from the first data pass on.
    `cache` (shared between the codings of one graph) keeps the graph after each pipeline prefix: codings share
    their canonicalisation, and passes are pure functions of the graph."""
    ctx = PassContext(calibration=None, timesteps=int(timesteps or 32))
    # without a shared cache no prefix is asked for again: keeping them all would hold every pass's weights
    keep = cache is not None
    cache = {} if cache is None else cache
    blockers: list[Blocker] = []
    done: list[str] = []
    unchecked: list[str] = []
    needs_data = False
    prefix: tuple = ()
    items = parse_pipeline(pipeline)
    for index, (name, options) in enumerate(items):
        if all(later in CANNOT_BLOCK for later, _ in items[index:]):
            break
        # calibrate may find "nothing to calibrate" in a gate it does not know; what follows it reads its statistics
        needs_data = needs_data or name in DATA_PASSES
        if not needs_data:
            prefix += ((name, tuple(sorted((k, str(v)) for k, v in options.items()))),)
            if prefix in cache:
                graph = cache[prefix]
                done.append(name)
                continue
            try:
                graph = get_pass(name).fn(graph, ctx, **options).graph
                if keep:
                    cache[prefix] = graph
                done.append(name)
                continue
            except DataError:
                needs_data = True
            except RewriteError as exc:
                # the precondition lists every node the pass refuses, the pass stopped at the first
                view = PipelineView(options=dict(options), before=tuple(done))
                found = [b for check in preconditions_for(name) for b in check(graph, view)]
                if not any(b.blocking for b in found):
                    op = graph.node_map()[exc.node].op if exc.node in graph.node_map() else None
                    found.append(Blocker(exc.node, op, exc.message))
                blockers += [replace(b, pass_name=name) for b in found]
                break
            except SnnccError as exc:
                blockers.append(Blocker(None, None, str(exc), pass_name=name))
                break
            except (TypeError, ValueError, ArithmeticError) as exc:
                # options the pass cannot use: the pass manager reports them when the pipeline runs
                blockers.append(Blocker(None, None, f"not checked further: {type(exc).__name__}: {exc}",
                                        pass_name=name, blocking=False))
                break
        checks = preconditions_for(name)
        if not checks and name.startswith("lower-"):
            unchecked.append(name)
        view = PipelineView(options=dict(options), before=tuple(done))
        for check in checks:
            try:
                found = check(graph, view)
            except (TypeError, ValueError, ArithmeticError) as exc:
                # a precondition that runs its pass with options it cannot take (`{bogus=1}`): the pass manager
                # names them when the pipeline runs
                found = [Blocker(None, None, f"not checked further: {type(exc).__name__}: {exc}", pass_name=name,
                                 blocking=False)]
            blockers += [replace(b, pass_name=b.pass_name or name) for b in found]
        done.append(name)
    stops = tuple(b for b in blockers if b.blocking)
    notes = tuple(b for b in blockers if not b.blocking)
    status = BLOCKED if stops else (UNCHECKED if unchecked else WORKS)
    return Verdict(coding, status, stops, notes, unchecked=tuple(unchecked))


def _suggest(verdict: Verdict, working: list[str]) -> str:
    """The codings that work, else the first blocker's own fix."""
    if verdict.status != BLOCKED:
        return ""
    if working:
        return " or ".join(f"--coding {c}" for c in working)
    return next((b.fix for b in verdict.blockers if b.fix), "no coding can take this model")


def check_graph(graph: Graph, codings: list[str] | None = None, *, timesteps: int | None = None, profile=None,
                **coding_options) -> list[Verdict]:
    """Verdicts for an imported IR graph (each coding's default pipeline with `coding_options`; `timesteps` None:
    each coding's own default)."""
    from snncc.check.profile_fit import profile_blockers
    from snncc.pipeline import pipeline_for, registered_codings

    codings = list(codings or registered_codings())
    verdicts = []
    cache: dict = {}
    for coding in codings:
        try:
            options = dict(coding_options, **({"timesteps": int(timesteps)} if timesteps else {}))
            pipeline = pipeline_for(coding, **options)
        except OptionError as exc:
            verdicts.append(Verdict(coding, BLOCKED, (Blocker(None, None, f"option: {exc}"),)))
            continue
        verdict = check_pipeline(graph, pipeline, coding, timesteps, cache)
        if profile is not None:
            extra = profile_blockers(graph, coding, profile)
            stops = verdict.blockers + tuple(b for b in extra if b.blocking)
            verdict = Verdict(coding, BLOCKED if stops else verdict.status, stops,
                              verdict.notes + tuple(b for b in extra if not b.blocking), unchecked=verdict.unchecked)
        verdicts.append(verdict)
    working = [v.coding for v in verdicts if v.status == WORKS]
    return [Verdict(v.coding, v.status, v.blockers, v.notes, _suggest(v, working), v.unchecked) for v in verdicts]


def check_model(model: str | os.PathLike | onnx.ModelProto, codings: list[str] | None = None, *,
                input_shapes: dict | None = None, timesteps: int | None = None, profile=None,
                sample_shape: tuple[int, ...] | None = None, outputs: tuple[str, ...] = (),
                **coding_options) -> CheckReport:
    """Read the model's graph (no calibration) and say, per coding, whether it compiles and what stops it.

    `input_shapes` sizes dynamic input axes as for compile; without it, `sample_shape` (the calibration data's
    per-sample shape, as compile would take it) does; `profile` (a name, file or Profile) adds the hardware's
    preconditions. ModelLoadError/OptionError propagate: they are about the file or the options, not a coding."""
    from snncc.frontend.input_shape import shapes_from_calibration
    from snncc.frontend.load import prepare, read_model
    from snncc.frontend import onnx_to_ir
    from snncc.pipeline import registered_codings

    start = time.perf_counter()
    codings = list(codings or registered_codings())
    if profile is not None:
        from snncc.backends.coremap import load_profile

        profile = load_profile(profile)
    name = "model" if isinstance(model, onnx.ModelProto) else str(model)
    raw = model if isinstance(model, onnx.ModelProto) else read_model(Path(model))
    notes = []
    if not input_shapes and sample_shape is not None:
        input_shapes = shapes_from_calibration(raw, tuple(sample_shape))
        notes += [f"input {k} sized {'x'.join(map(str, v))} by the calibration data" for k, v in input_shapes.items()]
    onnx_model = prepare(raw, name, input_shapes=input_shapes, working_batch=1,   # nothing runs: no batch is held
                         outputs=tuple(outputs))
    shapes = _input_shapes(onnx_model)

    def report(verdicts) -> CheckReport:
        return CheckReport(name, shapes, tuple(verdicts), time.perf_counter() - start,
                           getattr(profile, "name", None), tuple(notes))

    def all_blocked(stops, fix: str | None = None) -> CheckReport:
        return report(Verdict(c, BLOCKED, tuple(stops), suggestion=fix or stops[0].fix) for c in codings)

    if stops := input_blockers(onnx_model):
        return all_blocked(_hardest_first(stops + size_free_blockers(onnx_model)))
    if any(d < 1 for dims in shapes.values() for d in dims[1:]):
        from snncc.frontend.convert import _input_type

        if stops := size_free_blockers(onnx_model):
            # no input size changes these verdicts: say so before asking the user for sizes
            notes.append("input sizes unknown (give --input-shape NAME=DIMS); the nodes listed block every coding "
                         "whatever the size")
            return all_blocked(stops)
        for vi in onnx_model.graph.input:   # an unknown input size is the user's to give, not a coding's limit
            if vi.name in shapes:
                _input_type(vi)
    try:
        graph = onnx_to_ir(onnx_model)
    except UnsupportedModelError as exc:
        stops = tuple(frontend_blockers(exc, onnx_model))
        return all_blocked(stops, _cut_suggestion(onnx_model, stops, outputs))
    notes += [] if (too_big := _compile_memory_note(onnx_model, name)) is None else [too_big]
    if graph.meta.get("dropped_tail"):
        notes.append(f"the output tail {graph.meta['dropped_tail']} is dropped (argmax unchanged"
                     + ("; the SNN computes the logits, the Sigmoid is applied at readout"
                        if graph.meta.get("sigmoid_outputs") else "") + ")")
    return report(check_graph(graph, codings, timesteps=timesteps, profile=profile, **coding_options))


def _cut_suggestion(model: onnx.ModelProto, stops: tuple[Blocker, ...], outputs: tuple[str, ...]) -> str | None:
    """`--outputs ...` when every blocker is post-processing (a Softmax inside the graph, TopK, NMS, ArgMax) and the
    graph cut before it converts: first cut through the reshapes after the network, then also through concats."""
    from snncc.frontend import onnx_to_ir
    from snncc.frontend.cut import RESHAPING, cut_outputs, post_processing_cut

    if not stops or any(b.op not in POST_PROCESSING or not b.node for b in stops):
        return None
    for through in (RESHAPING, RESHAPING | {"Concat"}):
        cut = list(dict.fromkeys(name for b in stops for name in post_processing_cut(model, b.node, through)))
        if not cut or set(cut) == set(outputs):
            continue
        try:
            onnx_to_ir(cut_outputs(model, tuple(cut)))
        except SnnccError:
            continue
        names = ",".join(cut)
        return (f"compile the network before its post-processing with --outputs {names} and decode those maps "
                f"outside (`snncc check MODEL --outputs {names}` lists the codings)")
    return None


def _compile_memory_note(model: onnx.ModelProto, name: str) -> str | None:
    """The check holds no batch; compile calibrates WORKING_BATCH samples at a time and refuses at load a tensor
    that would then exceed the memory cap: say so before the user runs it."""
    from snncc.frontend.load import check_value_shapes
    from snncc.limits import WORKING_BATCH

    try:
        check_value_shapes(model, name, WORKING_BATCH)
    except ResourceLimitError as exc:
        return f"compile will refuse this input size: {exc}; or give a smaller --input-shape"
    return None


def _input_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inits = {i.name for i in model.graph.initializer}
    return {vi.name: tuple(d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim)
            for vi in model.graph.input if vi.name not in inits}
