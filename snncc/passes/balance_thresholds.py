"""balance-thresholds: choose each ReLU population's threshold theta (layer- or channel-wise) and make it explicit
as `bounded_relu{theta}`; Clip(0, c) gets theta = c with no data."""

from __future__ import annotations

import numpy as np

from snncc.errors import DataError, OptionError
from snncc.ir import BoundedRelu, Clip, Relu
from snncc.passes.calibrate import collect_stats
from snncc.passes.calibration_stats import given_stats
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit, channel_view

MODES = ("layer", "channel")
STATS = ("max", "percentile", "max-input-current")
PERCENTILE = 99.99   # the default of stat=percentile (unused by max)


def default_q(stat: str, q: float | None) -> float:
    """q when asked for; else Viet & Lee's maximum (100) for max-input-current, and 99.99 otherwise."""
    if q is not None:
        return float(q)
    return 100.0 if stat == "max-input-current" else PERCENTILE


def data_free_theta(node) -> float | None:
    """theta of a Clip(0, c) activation (ReLU6 and the like), else None."""
    if isinstance(node, Clip) and node.lo == 0.0 and np.isfinite(node.hi) and node.hi > 0:
        return float(node.hi)
    return None


def thresholds_from_stats(stats, shape, mode: str, stat: str, q: float) -> np.ndarray:
    """theta per layer (shape ()) or per channel (broadcast-ready); dead channels fall back to the layer value."""
    layer = stats.layer_stat(stat, q)
    if not layer > 0:
        layer = 1.0
    if mode == "layer" or not shape:
        return np.array(layer, np.float32)
    per_channel = stats.channel_stat(stat, q).astype(np.float32)
    per_channel = np.where(per_channel > 0, per_channel, np.float32(layer))
    return channel_view(per_channel, shape)


@register_pass("balance-thresholds")
def balance_thresholds(graph, ctx, mode: str = "channel", stat: str = "percentile", q: float | None = None,
                       timesteps: int | None = None, v0: str = "half") -> PassResult:
    """Set every ReLU's firing threshold from calibration activations, per layer or per channel.

    Threshold balancing (Diehl 2015, Rueckauer 2017; algorithms.md §1.3):

        theta_l = stat over calibration activations a_l of layer l   (mode=layer)
        theta_l[c] = stat over a_l[:, c]                               (mode=channel)

    stat is `max`, `percentile` (q, default 99.99) or `max-input-current` (Viet & Lee: the max per-step input
    current measured in the SNN, layer by layer, with IF neurons starting at `v0`, the compile's `lower-rate{v0}`;
    algorithms.md §6; q defaults to 100 there, the paper's maximum). Relu -> bounded_relu{theta}; Clip(0, c) ->
    bounded_relu{theta=c} (data-free)."""
    if mode not in MODES:
        raise OptionError(f"balance mode {mode!r} is not one of {', '.join(MODES)}")
    if stat not in STATS:
        raise OptionError(f"threshold statistic {stat!r} is not one of {', '.join(STATS)}")
    q = default_q(stat, q)
    if not 0 < float(q) <= 100:
        raise OptionError(f"percentile q={q} must be in (0, 100]")
    if stat == "max-input-current":
        from snncc.passes.max_input_current import balance_by_input_current

        return balance_by_input_current(graph, ctx, mode=mode, q=float(q),
                                        timesteps=int(timesteps or ctx.timesteps), v0=str(v0))
    edit = GraphEdit(graph)
    relus = [n for n in graph.nodes if isinstance(n, Relu)]
    stats = ctx.stats.get("activations")
    if relus and stats is None:
        if ctx.calibration is None:
            raise DataError(f"ReLU threshold balancing needs calibration data (--calib FILE.npz); "
                            f"{len(relus)} ReLU layer(s) have no Clip bound to use instead")
        stats = given_stats(graph, ctx, 256)
        if stats is None:
            stats = collect_stats(graph, ctx.calibration, progress=ctx.progress)
        ctx.stats["activations"] = stats
    for node in graph.nodes:
        theta = data_free_theta(node)
        if theta is not None:
            ref = edit.constant(f"{node.name}.theta", np.array(theta, np.float32))
        elif isinstance(node, Relu):
            ref = edit.constant(f"{node.name}.theta",
                                thresholds_from_stats(stats[node.name], node.type.shape, mode, stat, float(q)))
        else:
            continue
        edit.replace(BoundedRelu(name=node.name, inputs=node.inputs, type=node.type, theta=ref))
    return PassResult(edit.apply(), edit.modified)


