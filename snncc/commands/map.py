"""`snncc map`: cut a compiled SNN into neuromorphic cores for a hardware profile, or check a mapping file."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from snncc.errors import OptionError


def default_calibration(graph) -> np.ndarray | None:
    """The calibration set recorded next to the graph's source model, if there is one."""
    from snncc.compiler import default_calibration_file
    from snncc.data import load_npz

    source = graph.meta.get("source")
    path = default_calibration_file(source) if source else None
    return load_npz(path).x if path else None


def format_summary(doc: dict) -> str:
    """A few lines for the terminal."""
    s = doc["summary"]
    p = doc["profile"]
    util = s["utilisation"]
    pct = lambda d: f"{100 * d['min']:.0f}/{100 * d['mean']:.0f}/{100 * d['max']:.0f}%"  # noqa: E731
    lines = [
        f"profile {p['name']}: {s['cores']} cores on {s['chips']} chip(s); graph-only bound "
        f"{s['graph_bound_cores']} ({s['cores_over_graph_bound']:.3g}x)"
        + (f", with the splitters one-axon neurons force {s['one_axon_bound_cores']} "
           f"({s['cores_over_one_axon_bound']:.3g}x)" if "one_axon_bound_cores" in s else "")
        + f"; mapper's bound {s['lower_bound_cores']} ({s['cores_over_bound']:.3g}x)",
        f"neurons {s['neurons']} (splitters {s['splitter_neurons']})   synapses {s['synapses']}   "
        f"synapse memory {s['memory_bits']} bits",
        f"utilisation min/mean/max: neurons {pct(util['neurons'])}  input axons {pct(util['input_axons'])}  "
        f"output axons {pct(util['output_axons'])}  memory {pct(util['synapse_memory'])}",
        f"spikes per sample crossing cores: {s['spikes_per_sample_crossing_cores']:g} ({doc['traffic']})",
    ]
    return "\n".join(lines)


def write_mapping(graph, profile: str, output: str | Path, calibration: np.ndarray | None,
                  traffic: str = "auto", progress: bool = False) -> dict:
    """Map and write the mapping file atomically; returns the document."""
    from snncc.backends.coremap import map_graph
    from snncc.backends.coremap.mapfile import dump_chunks
    from snncc.ir.atomic_write import atomic_write

    document = map_graph(graph, profile, calibration, traffic=traffic, progress=progress).document
    atomic_write(str(output), dump_chunks(document))     # the network and its matrices are freed by now
    return document


def profile_accuracy(graph, data, steps: list[int], profile: str, *, batch_size: int = 256,
                     progress: bool = False) -> dict:
    """Accuracy of the graph after quantizing its weights to `profile`'s precision (the whole-graph simulator on
    the quantized network, input on the 8-bit grid), per T."""
    from snncc.backends.coremap import extract, load_profile, quantize, to_graph
    from snncc.backends.coremap.pool_stage import pool_stages_for
    from snncc.backends.coremap.quantize import QUANTIZABLE_OPS, weight_quantized_graph
    from snncc.backends.simulator import simulate

    prof = load_profile(profile)
    calibration = default_calibration(graph)
    reference = data.x if calibration is None else calibration
    network = pool_stages_for(extract(graph), prof)
    if all(l.op in QUANTIZABLE_OPS for l in network.layers if l.kind == "population"):
        q = quantize(network, prof, reference)
        result = simulate(to_graph(q, dict(graph.meta)), q.quantize_input(data.x), steps, batch_size=batch_size,
                          progress=progress)
        model, clipped = "integer weights and thresholds", q.clipped_thresholds
    else:       # phase, bits, AMOS: rounded weights, float thresholds
        rounded, step = weight_quantized_graph(graph, prof, reference)
        x = (np.round(np.asarray(data.x, np.float64) / step) * step).astype(np.float32)
        result = simulate(rounded, x, steps, batch_size=batch_size, progress=progress)
        model, clipped = "rounded weights, float thresholds", 0
    accuracy = {}
    for t in steps:
        pred = result.predictions[t]
        if data.y is None:
            accuracy[t] = None
            continue
        hits = pred == data.y
        if data.mask is not None:
            hits = hits[..., data.mask] if hits.ndim > 1 else hits[data.mask]
        accuracy[t] = float(np.mean(hits))
    return {"profile": prof.name, "weight_bits": prof.weight_bits, "input_bits": 8, "model": model,
            "snn_accuracy": accuracy[steps[0]] if len(steps) == 1 else {str(t): a for t, a in accuracy.items()},
            "clipped_thresholds": clipped}


def format_profile_accuracy(info: dict) -> str:
    acc = info["snn_accuracy"]
    fmt = lambda a: "-" if a is None else f"{100 * a:.2f}%"  # noqa: E731
    text = fmt(acc) if not isinstance(acc, dict) else ", ".join(f"T={t}: {fmt(a)}" for t, a in acc.items())
    return (f"on {info['profile']} ({info['weight_bits']}-bit weights, 8-bit input; {info['model']}): SNN accuracy "
            f"{text} after weight quantization")


@click.command("map")
@click.argument("snnir", type=click.Path(dir_okay=False))
@click.argument("mapfile", type=click.Path(dir_okay=False), required=False)
@click.option("--profile", default=None, help="Hardware profile: loihi, loihi2, truenorth, spinnaker2, generic, or "
                                               "a JSON file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Mapping file to write (default: SNNIR with .map.json).")
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Calibration data (.npz with 'x') for the spike-traffic weights and the input grid; defaults to "
                   "the file recorded next to the source model.")
@click.option("--traffic", type=click.Choice(["auto", "recorded", "simulate", "uniform"]), default="auto",
              show_default=True,
              help="Spike traffic that weighs the routes: the rates compile recorded in the header, a simulation of "
                   "the calibration data, or one spike per neuron; auto takes the first available.")
@click.option("--check", "check", is_flag=True,
              help="Check MAPFILE against SNNIR: recompute every limit and list each violation (exit 1 if any).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def map_cmd(snnir, mapfile, profile, output, calib, traffic, check, progress):
    """Map a compiled SNN onto the cores of a hardware profile, or (--check) verify a mapping file."""
    from snncc.backends.coremap import check_mapping, load_mapping
    from snncc.commands.diff import read_graph
    from snncc.data import load_npz
    from snncc.heap import map_large_blocks

    map_large_blocks()      # the float weights and each packing's arrays go back to the system when freed

    # constants read when used: the mapper frees the float weights once it holds the integer ones
    graph = read_graph(snnir, "map", weights=True, lazy=True)
    if check:
        if not mapfile:
            raise OptionError("--check needs the mapping file: snncc map --check MODEL.snnir MODEL.map.json")
        problems = check_mapping(graph, load_mapping(mapfile))
        for p in problems:
            click.echo(f"violation: {p}")
        if problems:
            click.echo(f"{mapfile}: {len(problems)} violation(s)", err=True)
            raise SystemExit(1)
        click.echo(f"{mapfile}: ok (every core within the limits of its profile; slices, totals and routes match)")
        return
    if mapfile:
        raise OptionError(f"unexpected argument {mapfile!r}; write the mapping with -o, or check it with --check")
    if not profile:
        raise OptionError("--profile is required (loihi, loihi2, truenorth, spinnaker2, generic, or a JSON file)")
    output = output or str(Path(snnir).with_suffix(".map.json"))
    from snncc.outputs import check_distinct, check_target

    check_distinct({"SNNIR": snnir, "--calib": calib, "--profile": profile if Path(profile).is_file() else None},
                   {"-o": output})
    check_target(output)
    calibration = load_npz(calib).x if calib else default_calibration(graph)
    doc = write_mapping(graph, profile, output, calibration, traffic,
                        progress=sys.stderr.isatty() if progress is None else progress)
    click.echo(format_summary(doc))
    click.echo(f"wrote {output}", err=True)
