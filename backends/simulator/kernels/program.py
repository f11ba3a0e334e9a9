"""Programs and runs: build the kernels of a description, bind them to batches, step them with the
program's schedule, and count spikes, SynOps and energy."""

import numpy as np

from .base import (ENERGY_PJ_PER_ACCUMULATE, ENERGY_PJ_PER_MAC, ENERGY_PJ_PER_MULTIPLY, FORMAT, FORMAT_VERSION,
                   KERNELS, SCHEDULES, NotLoweredError, ProgramError, RunOptions, not_lowered_message)
from .pool_tree import find_pool_trees
from .schedule_windowed import window_latency

class Program:
    """A validated program description with its kernels built (index maps, transposed weights) and its static
    accounting: ANN MACs per sample and, per node, the synaptic events one unit on each of its elements causes
    downstream (`fanout`)."""

    def __init__(self, description, constants):
        if description.get("format") != FORMAT:
            raise ProgramError(f"not a simulator program (format {description.get('format')!r}, "
                               f"expected {FORMAT!r})")
        if description.get("version") != FORMAT_VERSION:
            raise ProgramError(f"program format version {description.get('version')} is not supported "
                               f"(this simulator reads version {FORMAT_VERSION})")
        self.schedule = description.get("schedule", "concurrent")
        if self.schedule not in SCHEDULES:
            raise ProgramError(f"unknown schedule {self.schedule!r}; available: {', '.join(sorted(SCHEDULES))}")
        self.meta = dict(description.get("meta", {}))
        self.kernels = []
        shapes = {}
        for node in description["nodes"]:
            name, op = node["name"], node["op"]
            cls = KERNELS.get(op)
            if cls is None:
                raise NotLoweredError(not_lowered_message(name, op))
            for src in node.get("inputs", []):
                if src not in shapes:
                    raise ProgramError(f"node %{name} ({op}) reads %{src}, which no earlier node produces")
            self.kernels.append(cls(node, constants, [shapes[s] for s in node.get("inputs", [])]))
            shapes[name] = tuple(node["shape"])
        self.shapes = shapes
        self.inputs = [k.name for k in self.kernels if k.op == "input"]
        for index, kernel in enumerate(k for k in self.kernels if k.op == "input"):
            kernel.input_index = index
        self.outputs = list(description["outputs"])
        for out in self.outputs:
            if out not in shapes:
                raise ProgramError(f"program output %{out} is not produced by any node")
        self.pool_trees = find_pool_trees(self.kernels, self.outputs)
        self.stepped = self.kernels     # what a schedule steps: the kernels, fused pool trees in place of theirs
        self._kinds_bound = None        # the run options `bind_counts` last bound the Signals' kinds for
        self._kinds = {}
        self.fanout = self._fanouts()
        self.kernel_macs = {k.name: k.ann_macs() for k in self.kernels}     # per sample; counted per batch
        self.ann_macs = sum(self.kernel_macs.values())
        self.bias_adds = sum(k.bias_adds() for k in self.kernels)
        self.multiplies = sum(k.multiplies() for k in self.kernels)

    def ann_energy_pj(self):
        """Energy of one ANN inference: a MAC per synapse, an add per bias, the products of two values."""
        return (ENERGY_PJ_PER_MAC * self.ann_macs + ENERGY_PJ_PER_ACCUMULATE * self.bias_adds
                + ENERGY_PJ_PER_MULTIPLY * self.multiplies)

    def _fanouts(self):
        """Reverse sweep: fanout[v] = sum over consumers c of c.input_fanout(v's slot, fanout[c]); a graph output
        starts at 1 per element (its value is accumulated by the decoder)."""
        fan = {k.name: np.zeros(k.shape) for k in self.kernels}
        for out in self.outputs:
            fan[out] += 1.0
        for kernel in reversed(self.kernels):
            for index, src in enumerate(kernel.inputs):
                fan[src] = fan[src] + kernel.input_fanout(index, fan[kernel.name])
        return fan

    def bind(self, batch_inputs, batch, run, start=0):
        """Bind every kernel to a batch whose first sample is `start`; returns the output Signals by name. Sets
        `stepped`, the kernels a schedule steps: each max-pool tree that can be fused for this run replaced by its
        fused kernel at the root's place (nothing outside the tree reads its other members)."""
        run.batch_inputs = batch_inputs
        run.batch_start = start
        self._kinds_bound = None
        signals = {}
        for kernel in self.kernels:
            signals[kernel.name] = kernel.bind([signals[s] for s in kernel.inputs], batch, run)
        fused = [tree for tree in self.pool_trees if tree.bind_fused(signals, batch, run)]
        replaced = {member.name: tree for tree in fused for member in tree.members}
        self.stepped = [replaced.get(k.name, k) for k in self.kernels
                        if k.name not in replaced or replaced[k.name].root is k]
        return {name: signals[name] for name in self.outputs}

    def bind_counts(self, batch_inputs, batch, run, start=0):
        """Bind for a schedule that steps the program elsewhere (the ort engine), which needs of the kernels only
        the input frames, what each Signal is (static, spike-derived; `analog_input`) and the spiking kernels'
        counts: the input kernels are bound to this batch, every spiking kernel gets zeroed (batch, *shape) counts,
        and the other kernels are bound only when the run options change, to one sample (what a Signal is does not
        depend on the batch). At batch 1, binding every kernel's buffers was 30 % of the ort engine's
        time. Returns the output Signals (their kinds, no values)."""
        kinds = (run.input_coding, run.synaptic_path)
        if self._kinds_bound != kinds:
            self._kinds = self.bind({name: a[:1] for name, a in batch_inputs.items()}, 1, run, start)
            self._kinds_bound = kinds
        run.batch_inputs = batch_inputs
        run.batch_start = start
        for kernel in self.kernels:
            if kernel.op == "input":
                kernel.bind([], batch, run)
            elif kernel.counts is not None:
                kernel.counts = np.zeros((batch,) + kernel.shape, np.float32)
        return self._kinds


class BatchRun:
    """One bound batch: the program's kernels and the graph-output Signals, ready to be stepped by a schedule.
    The schedule calls `checkpoint(T)` at every checkpoint, which records the synaptic events so far."""

    def __init__(self, program, outputs, batch, on_progress=None):
        self.program = program
        self.outputs = outputs
        self.batch = batch
        self.on_progress = on_progress
        self.synops_at = {}    # {T: (events priced as accumulates, events priced as multiply-accumulates)}

    def advance(self, fraction):
        """A schedule reports that `fraction` of this batch's work is done (a time step, a layer's window)."""
        if self.on_progress is not None:
            self.on_progress(fraction * self.batch)

    def checkpoint(self, t):
        plain = weighted = 0.0
        for kernel in self.program.kernels:
            if kernel.counts is not None:
                events = float((kernel.counts.astype(np.float64) * self.program.fanout[kernel.name]).sum())
                if getattr(kernel, "weighted_spikes", False):
                    weighted += events
                else:
                    plain += events
        self.synops_at[t] = (plain, weighted)


def progress_bar(total, desc, enabled):
    """A tqdm bar over `total` samples that moves within a batch (schedules advance it per step or per layer), or
    None when disabled or tqdm is missing (emitted programs need only NumPy)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # n advances by fractions of a batch: show the percentage and the times, not a float count
    return tqdm(total=total, desc=desc, unit="sample",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")


def simulate_program(program, inputs, timesteps, *, input_coding="analog", seed=0, batch_size=256,
                     progress=False, synaptic_path="auto", schedule=None, counts_only=False):
    """Run `program` (a `Program`) on `inputs` ({input name: (N, *shape) array}) for max(timesteps) steps in batches.
    `schedule`, a function like the registered schedules, replaces the program's own (the onnxruntime engine steps
    the bound batch in its own way and leaves the counts in the kernels, so the accounting below is shared);
    `counts_only`: that schedule reads no kernel buffers but the inputs' and the counts (`Program.bind_counts`).

    Returns a dict:
        timesteps          sorted checkpoints
        outputs            {output name: {T: (N, *shape) decoded output at T}}
        spikes_per_layer   {spiking node: mean spikes per sample over the whole run}
        spikes_per_sample  total over spiking nodes (input spikes included under poisson coding)
        synops_per_sample  sum over spikes of the spiking neuron's fan-out (program.fanout)
        ann_macs_per_sample, snn_macs_per_sample (synaptic ops on analog input, x max T)
        weighted_synops_per_sample  the SynOps whose spike weight needs a multiply (priced as MACs)
        bias_adds_per_sample, multiplies_per_sample  constant currents and non-synaptic products, x max T
        ann_energy_pj, snn_energy_pj (per sample), energy_ratio = ann / snn at max T
        energy_ratio_at, snn_energy_pj_at  {T: the same at each checkpoint}
        max_spikes_per_neuron, n_samples, path_counts
        latency_steps, pipeline_interval_steps (windowed: K x spiking depth and K; concurrent: max T for both)
    """
    checkpoints = sorted({int(t) for t in ([timesteps] if np.isscalar(timesteps) else timesteps)})
    if not checkpoints or checkpoints[0] < 1:
        raise ProgramError(f"timesteps must be positive integers, got {timesteps}")
    if batch_size < 1:
        raise ProgramError(f"batch size must be positive, got {batch_size}")
    missing = [name for name in program.inputs if name not in inputs]
    if missing:
        raise ProgramError(f"no data for program input(s) {', '.join('%' + m for m in missing)}")
    arrays = {name: np.asarray(inputs[name], dtype=np.float32) for name in program.inputs}
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) != 1:
        raise ProgramError(f"inputs differ in sample count: {sorted(sizes)}")
    n = sizes.pop()
    t_max = checkpoints[-1]
    run = RunOptions(input_coding, seed, synaptic_path)
    schedule = SCHEDULES[program.schedule] if schedule is None else schedule
    outputs = {name: {t: np.zeros((n,) + program.shapes[name], np.float32) for t in checkpoints}
               for name in program.outputs}
    spikes = {}
    synops_at = {t: np.zeros(2) for t in checkpoints}
    analog_macs = 0
    max_per_neuron = 0.0
    bar = progress_bar(n, "simulate", progress)
    try:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            batch = stop - start
            bind = program.bind_counts if counts_only else program.bind
            bound = bind({name: a[start:stop] for name, a in arrays.items()}, batch, run, start)
            batch_run = BatchRun(program, bound, batch, bar and bar.update)
            decoded = schedule(batch_run, checkpoints)
            for t, per_output in decoded.items():
                for name, value in per_output.items():
                    outputs[name][t][start:stop] = value
            for t in checkpoints:
                synops_at[t] += batch_run.synops_at[t]
            for kernel in program.kernels:
                if kernel.counts is not None:
                    counts = kernel.counts.astype(np.float64)
                    spikes[kernel.name] = spikes.get(kernel.name, 0.0) + float(counts.sum())
                    max_per_neuron = max(max_per_neuron, float(counts.max(initial=0.0)))
                if kernel.synaptic and kernel.analog_input:
                    analog_macs += program.kernel_macs[kernel.name] * batch
    finally:
        if bar is not None:
            bar.close()
    spikes_per_layer = {name: total / n for name, total in spikes.items()} if n else {}
    # latency in steps and steps between pipelined samples (windowed: K x depth and K; concurrent: T and T)
    latency, interval = window_latency(program) if program.schedule == "windowed" else (t_max, t_max)
    ann_energy = program.ann_energy_pj()
    per = 1.0 / n if n else 0.0
    energy_at, ratio_at = {}, {}
    for t in checkpoints:
        # a windowed layer integrates its analog input, adds its bias, multiplies once per window; concurrent: per step
        steps = 1 if program.schedule == "windowed" else t
        plain, weighted = synops_at[t] * per
        energy_at[t] = (ENERGY_PJ_PER_ACCUMULATE * plain + ENERGY_PJ_PER_MAC * weighted
                        + ENERGY_PJ_PER_MAC * analog_macs * per * steps
                        + ENERGY_PJ_PER_ACCUMULATE * program.bias_adds * steps
                        + ENERGY_PJ_PER_MULTIPLY * program.multiplies * steps)
        ratio_at[t] = ann_energy / energy_at[t] if energy_at[t] > 0 else float("inf")
    steps_max = 1 if program.schedule == "windowed" else t_max
    synops_per_sample = float(synops_at[t_max].sum() * per)
    snn_macs_per_sample = analog_macs * per * steps_max
    snn_energy = energy_at[t_max]
    return {
        "timesteps": checkpoints,
        "outputs": outputs,
        "spikes_per_layer": spikes_per_layer,
        "spikes_per_sample": float(sum(spikes_per_layer.values())),
        "synops_per_sample": synops_per_sample,
        "ann_macs_per_sample": int(program.ann_macs),
        "snn_macs_per_sample": snn_macs_per_sample,
        "ann_energy_pj": ann_energy,
        "snn_energy_pj": snn_energy,
        "energy_ratio": ratio_at[t_max],
        "energy_ratio_at": ratio_at,
        "snn_energy_pj_at": energy_at,
        "weighted_synops_per_sample": float(synops_at[t_max][1] * per),
        "bias_adds_per_sample": program.bias_adds * steps_max,
        "multiplies_per_sample": program.multiplies * steps_max,
        "max_spikes_per_neuron": int(max_per_neuron),
        "n_samples": n,
        "latency_steps": latency,
        "pipeline_interval_steps": interval,
        "path_counts": run.path_counts,
    }


def predictions_of(decoded):
    """Class predictions: argmax over the last axis of a decoded output."""
    return np.argmax(decoded, axis=-1)
