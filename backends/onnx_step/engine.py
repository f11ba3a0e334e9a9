"""Run a lowered step model on onnxruntime: the T loop in Python over one `InferenceSession` with IO binding.

The state lives in two sets of NumPy buffers bound as OrtValues (shared memory): step t reads set t % 2 and writes
the other, so a step copies nothing. Poisson input spikes come from the simulator's own `InputKernel` (the same
seeded generator), so both engines see the same spikes. The result is the dict `simulate_program` returns, with
the spikes, SynOps and energy counted the same way.
"""

from __future__ import annotations

import os

import numpy as np

from snncc.backends.onnx_step.lower import StepModel, lower_program
from snncc.backends.simulator.kernels import (ENERGY_PJ_PER_ACCUMULATE, ENERGY_PJ_PER_MAC, Program, ProgramError,
                                              RunOptions, progress_bar, window_latency)


def machine_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


class OrtStepRunner:
    """A program's step model in an onnxruntime session with `threads` intra-op threads (default: the machine's
    cores)."""

    def __init__(self, program: Program, threads: int | None = None):
        import onnxruntime as ort

        self._ort = ort
        self.program = program
        self.threads = int(threads or machine_threads())
        self._lowered = {}

    def _session(self, model):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self._ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def prepare(self, input_coding="analog"):
        """Lower and load the step model for an input coding (analog input makes the first layers static: they run
        once per batch in a prologue session). Done once per coding; `simulate` calls it."""
        if input_coding not in self._lowered:
            run = RunOptions(input_coding, 0, "dense")
            program = self.program
            program.bind({name: np.zeros((1,) + program.shapes[name], np.float32) for name in program.inputs}, 1,
                         run)
            static = frozenset(k.name for k in program.kernels if k.output.static)
            analog_macs = sum(k.ann_macs() for k in program.kernels if k.synaptic and k.analog_input)
            step = lower_program(program, static)
            prologue = None if step.prologue is None else self._session(step.prologue)
            self._lowered[input_coding] = (step, self._session(step.model), prologue, analog_macs)
        self.step_model, self.session, self.prologue, analog_macs = self._lowered[input_coding]
        return analog_macs

    def _wrap(self, array):
        return self._ort.OrtValue.ortvalue_from_numpy(array)

    def _binding(self, frames, state_in, state_out, readouts):
        binding = self.session.io_binding()
        for name, array in list(frames.items()) + list(state_in.items()):
            binding.bind_ortvalue_input(name, self._wrap(array))
        for spec in self.step_model.states:
            binding.bind_ortvalue_output(spec.next_name, self._wrap(state_out[spec.name]))
        for name, array in readouts.items():
            binding.bind_ortvalue_output(name, self._wrap(array))
        return binding

    def _run_batch(self, frames, input_kernels, batch, checkpoints, advance):
        """Step one batch; returns (decoded {T: {output: array}}, final state {name: array})."""
        program, model = self.program, self.step_model
        fresh = {s.name: np.ascontiguousarray(np.broadcast_to(s.initial, (batch,) + s.initial.shape))
                 for s in model.states}
        other = {name: np.empty_like(a) for name, a in fresh.items()}
        readouts = {name: np.empty((batch,) + program.shapes[out], np.float32)
                    for out, name in model.readouts.items()}
        if model.schedule == "windowed":
            self.session.run_with_iobinding(self._binding(frames, fresh, other, readouts))
            advance(1.0)
            decoded = {out: readouts[name].copy() for out, name in model.readouts.items()}
            return {t: decoded for t in checkpoints}, other
        bindings = [self._binding(frames, fresh, other, readouts), self._binding(frames, other, fresh, readouts)]
        wanted, decoded, t_max = set(checkpoints), {}, max(checkpoints)
        sums = model.sums()
        for t in range(1, t_max + 1):
            for kernel in input_kernels:
                kernel.step(t)
            self.session.run_with_iobinding(bindings[(t - 1) % 2])
            if t in wanted:
                state = other if t % 2 else fresh
                decoded[t] = {out: state[spec.name] / np.float32(t) for out, spec in sums.items()}
            advance(1 / t_max)
        return decoded, (other if t_max % 2 else fresh)

    def simulate(self, inputs, timesteps, *, input_coding="analog", seed=0, batch_size=256, progress=False) -> dict:
        """Like `kernels.simulate_program`, on onnxruntime; adds `engine` and `threads` to the result."""
        program = self.program
        checkpoints = sorted({int(t) for t in ([timesteps] if np.isscalar(timesteps) else timesteps)})
        if not checkpoints or checkpoints[0] < 1:
            raise ProgramError(f"timesteps must be positive integers, got {timesteps}")
        if batch_size < 1:
            raise ProgramError(f"batch size must be positive, got {batch_size}")
        missing = [name for name in program.inputs if name not in inputs]
        if missing:
            raise ProgramError(f"no data for program input(s) {', '.join('%' + m for m in missing)}")
        arrays = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in program.inputs}
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes) != 1:
            raise ProgramError(f"inputs differ in sample count: {sorted(sizes)}")
        n = sizes.pop()
        t_max = checkpoints[-1]
        windowed = program.schedule == "windowed"
        if windowed and input_coding == "poisson":
            raise ProgramError("poisson input coding is not available on the windowed schedule; use analog input")
        # a bind on one blank sample tells which values are static and which synapses see analog values (MACs)
        analog_macs = self.prepare(input_coding)
        model = self.step_model
        run = RunOptions(input_coding, seed, "dense")
        input_kernels = [k for k in program.kernels if k.op == "input"]
        counted = model.counts()
        outputs = {name: {t: np.zeros((n,) + program.shapes[name], np.float32) for t in checkpoints}
                   for name in program.outputs}
        spikes, synops, max_per_neuron = {}, 0.0, 0.0
        bar = progress_bar(n, "simulate (ort)", progress)
        try:
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                batch = stop - start
                run.batch_inputs = {name: a[start:stop] for name, a in arrays.items()}
                run.batch_start = start
                frames = {}
                for kernel in input_kernels:
                    signal = kernel.bind([], batch, run)
                    frames[kernel.name] = signal.value
                if self.prologue is not None:
                    static = self.prologue.run([f"{name}.static" for name in model.static_inputs],
                                               {name: frames[name] for name in
                                                (i.name for i in self.prologue.get_inputs())})
                    frames = {name: frames[name] for name in model.frames}
                    frames.update(zip(model.static_inputs, static))
                poisson = [k for k in input_kernels if k.poisson]
                advance = (lambda f, b=batch: bar.update(f * b)) if bar is not None else (lambda f: None)
                decoded, state = self._run_batch(frames, poisson, batch, checkpoints, advance)
                for t, per_output in decoded.items():
                    for name, value in per_output.items():
                        outputs[name][t][start:stop] = value
                for kernel in program.kernels:      # program order, like simulate_program's sums
                    if kernel.name in counted:
                        counts = state[counted[kernel.name].name]
                    elif kernel in poisson:
                        counts = kernel.counts
                    else:
                        continue
                    node = kernel.name
                    counts = counts.astype(np.float64)
                    spikes[node] = spikes.get(node, 0.0) + float(counts.sum())
                    synops += float((counts * program.fanout[node]).sum())
                    max_per_neuron = max(max_per_neuron, float(counts.max(initial=0.0)))
        finally:
            if bar is not None:
                bar.close()
        order = [k.name for k in program.kernels if k.name in spikes]
        spikes_per_layer = {name: spikes[name] / n for name in order} if n else {}
        latency, interval = window_latency(program) if windowed else (t_max, t_max)
        ann_energy = ENERGY_PJ_PER_MAC * program.ann_macs
        synops_per_sample = synops / n if n else 0.0
        snn_macs_per_sample = float(analog_macs * (1 if windowed else t_max)) if n else 0.0
        snn_energy = ENERGY_PJ_PER_ACCUMULATE * synops_per_sample + ENERGY_PJ_PER_MAC * snn_macs_per_sample
        return {
            "timesteps": checkpoints, "outputs": outputs, "spikes_per_layer": spikes_per_layer,
            "spikes_per_sample": float(sum(spikes_per_layer.values())), "synops_per_sample": synops_per_sample,
            "ann_macs_per_sample": int(program.ann_macs), "snn_macs_per_sample": snn_macs_per_sample,
            "ann_energy_pj": ann_energy, "snn_energy_pj": snn_energy,
            "energy_ratio": ann_energy / snn_energy if snn_energy > 0 else float("inf"),
            "max_spikes_per_neuron": int(max_per_neuron), "n_samples": n, "latency_steps": latency,
            "pipeline_interval_steps": interval, "path_counts": {}, "engine": "ort", "threads": self.threads,
        }
