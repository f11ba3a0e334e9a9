"""Run a lowered step model on onnxruntime: the T loop in Python over one `InferenceSession` with IO binding.

`OrtStepRunner.schedule` stands in for the program's NumPy schedule inside `kernels.simulate_program`, so batching,
decoding checkpoints and all accounting (spikes, SynOps, energy) are the NumPy engine's own code: the schedule
leaves each spiking kernel's counts where the NumPy kernels would. The state lives in two sets of NumPy buffers
bound as OrtValues (shared memory): step t reads set t % 2 and writes the other, so a step copies nothing. Poisson
input spikes come from the simulator's own `InputKernel` (the same seeded generator), so both engines see the same
spikes; an analog input and the layers that see only it run once per batch in a prologue session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from snncc.backends.onnx_step.lower import lower_program
from snncc.backends.simulator.kernels import Program, simulate_program

# Whether the ort engine runs the T steps as an ONNX Loop (True) or from Python (False): see README, engines.
LOOP_DEFAULT = False


def machine_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


@dataclass
class _Buffers:
    """One batch size's IO-bound buffers (see `OrtStepRunner._buffers`)."""

    frames: dict[str, np.ndarray]
    fresh: dict[str, np.ndarray]
    other: dict[str, np.ndarray]
    readouts: dict[str, np.ndarray]
    bindings: tuple
    counted: list
    sums: dict


def idle_threads() -> int:
    """The cores not already busy: the machine's cores less the 1-minute load average (at least 1). On a loaded
    machine, intra-op threads beyond the idle cores wait for each other at every node: on 2 cores at load 6, one
    thread stepped mnist_cnn 2.5x faster than two at batch 1 and 1.6x at batch 256 (benchmarks/sim_speed.py)."""
    cores = machine_threads()
    try:
        busy = int(os.getloadavg()[0])
    except (AttributeError, OSError):    # no load average on this platform
        busy = 0
    return max(1, min(cores, cores - busy))


class OrtStepRunner:
    """A program's step model in onnxruntime sessions with `threads` intra-op threads (default: the machine's idle
    cores, `idle_threads`). Sessions are built once per set of static nodes (that is, per input coding) and reused.

    `loop`: the steps between two checkpoints run as one ONNX `Loop` (loop.py) instead of one session call per step
    from Python (analog input on the concurrent schedule; Poisson input and windowed programs always step from
    Python). Default: LOOP_DEFAULT, the faster of the two as measured by benchmarks/sim_speed.py --loop."""

    def __init__(self, program: Program, threads: int | None = None, loop: bool | None = None):
        import onnxruntime as ort

        self._ort = ort
        self.program = program
        self.threads = int(threads or idle_threads())
        self.loop = LOOP_DEFAULT if loop is None else bool(loop)
        self._prepared = {}
        self._loops = {}
        self._batches = {}

    def _session(self, model):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self._ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def prepare(self, static: frozenset[str] = frozenset()):
        """(step model, its session, the prologue's session or None) for a set of static nodes."""
        if static not in self._prepared:
            step = lower_program(self.program, static)
            prologue = None if step.prologue is None else self._session(step.prologue)
            self._prepared[static] = (step, self._session(step.model), prologue)
        return self._prepared[static]

    def _loop_session(self, static: frozenset[str], step):
        if static not in self._loops:
            from snncc.backends.onnx_step.loop import loop_model

            self._loops[static] = self._session(loop_model(step))
        return self._loops[static]

    def _run_loop(self, session, step, frames, state_in, state_out, trips: int) -> None:
        """`trips` steps from state_in; the final states land in state_out."""
        from snncc.backends.onnx_step.loop import TRIPS

        wrap = self._ort.OrtValue.ortvalue_from_numpy
        binding = session.io_binding()
        for name, array in frames.items():
            binding.bind_ortvalue_input(name, wrap(array))
        count = np.array(trips, np.int64)    # kept alive until the run: the OrtValue only borrows its memory
        binding.bind_ortvalue_input(TRIPS, wrap(count))
        for spec in step.states:
            binding.bind_ortvalue_input(f"{spec.name}.init", wrap(state_in[spec.name]))
            binding.bind_ortvalue_output(f"{spec.name}.final", wrap(state_out[spec.name]))
        session.run_with_iobinding(binding)

    def _binding(self, session, step, frames, state_in, state_out, readouts):
        wrap = self._ort.OrtValue.ortvalue_from_numpy
        binding = session.io_binding()
        for name, array in list(frames.items()) + list(state_in.items()):
            binding.bind_ortvalue_input(name, wrap(array))
        for spec in step.states:
            binding.bind_ortvalue_output(spec.next_name, wrap(state_out[spec.name]))
        for name, array in readouts.items():
            binding.bind_ortvalue_output(name, wrap(array))
        return binding

    def _buffers(self, static: frozenset[str], step, session, batch: int) -> "_Buffers":
        """The frame, state and readout buffers of one batch size, and the two IO bindings over them (step t reads
        one state set and writes the other), made once and reused by every batch of that size."""
        key = (static, batch)
        if key not in self._batches:
            shapes = self.program.shapes
            frames = {name: np.empty((batch,) + shapes[name], np.float32)
                      for name in tuple(step.frames) + tuple(step.static_inputs)}
            fresh = {s.name: np.empty((batch,) + s.initial.shape, np.float32) for s in step.states}
            other = {name: np.empty_like(a) for name, a in fresh.items()}
            readouts = {name: np.empty((batch,) + shapes[out], np.float32) for out, name in step.readouts.items()}
            bindings = (self._binding(session, step, frames, fresh, other, readouts),
                        self._binding(session, step, frames, other, fresh, readouts))
            counted = [(k, step.counts()[k.name].name) for k in self.program.kernels if k.name in step.counts()]
            self._batches[key] = _Buffers(frames, fresh, other, readouts, bindings, counted, step.sums())
        return self._batches[key]

    def schedule(self, batch_run, checkpoints):
        """A schedule for `simulate_program`: step the bound batch on onnxruntime; returns {T: {output: decoded}}."""
        program, batch = batch_run.program, batch_run.batch
        inputs = [k for k in program.kernels if k.op == "input"]
        poisson = [k for k in inputs if k.poisson]
        if poisson and program.schedule == "windowed":
            poisson[0].fail("poisson input coding is not available on the windowed schedule; use analog input")
        static = frozenset(k.name for k in program.kernels if k.output.static)
        step, session, prologue = self.prepare(static)
        frames = {k.name: k.output.value for k in inputs}
        if prologue is not None:
            values = prologue.run([f"{name}.static" for name in step.static_inputs],
                                  {i.name: frames[i.name] for i in prologue.get_inputs()})
            frames = {name: frames[name] for name in step.frames}
            frames.update(zip(step.static_inputs, values))
        buffers = self._buffers(static, step, session, batch)
        for name, value in frames.items():
            np.copyto(buffers.frames[name], value)
        # onnxruntime writes into the state buffers: each batch starts again from the initial state
        for spec in step.states:
            np.copyto(buffers.fresh[spec.name], spec.initial)
        fresh, other, readouts, sums = buffers.fresh, buffers.other, buffers.readouts, buffers.sums

        def checkpoint(t, state):
            for kernel, name in buffers.counted:
                np.copyto(kernel.counts, state[name])
            batch_run.checkpoint(t)

        if step.schedule == "windowed":
            session.run_with_iobinding(buffers.bindings[0])
            batch_run.advance(1.0)
            decoded = {out: readouts[name].copy() for out, name in step.readouts.items()}
            for t in checkpoints:
                checkpoint(t, other)
            return {t: decoded for t in checkpoints}
        wanted, decoded, t_max = set(checkpoints), {}, max(checkpoints)
        if self.loop and not poisson:
            loop = self._loop_session(static, step)
            state, spare, done = fresh, other, 0
            for t in sorted(wanted):
                self._run_loop(loop, step, buffers.frames, state, spare, t - done)
                state, spare, trips, done = spare, state, t - done, t
                decoded[t] = {out: state[spec.name] / np.float32(t) for out, spec in sums.items()}
                checkpoint(t, state)
                batch_run.advance(trips / t_max)
            return decoded
        poisson_frames = [(k, buffers.frames[k.name]) for k in poisson]
        for t in range(1, t_max + 1):
            for kernel, frame in poisson_frames:
                kernel.step(t)
                np.copyto(frame, kernel.output.value)
            session.run_with_iobinding(buffers.bindings[(t - 1) % 2])
            if t in wanted:
                state = other if t % 2 else fresh
                decoded[t] = {out: state[spec.name] / np.float32(t) for out, spec in sums.items()}
                checkpoint(t, state)
            batch_run.advance(1 / t_max)
        return decoded

    def simulate(self, inputs, timesteps, *, input_coding="analog", seed=0, batch_size=256, progress=False) -> dict:
        """`kernels.simulate_program` with this runner as the schedule; adds `engine` and `threads` to the
        result."""
        try:
            raw = simulate_program(self.program, inputs, timesteps, input_coding=input_coding, seed=seed,
                                   batch_size=batch_size, progress=progress, synaptic_path="dense",
                                   schedule=self.schedule, counts_only=True)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (RuntimeException, Fail, ...)
            if "Failed to allocate memory" not in str(exc):
                raise
            from snncc.errors import ResourceLimitError

            raise ResourceLimitError(f"onnxruntime ran out of memory simulating {batch_size} sample(s) at a time: "
                                     f"lower --batch-size (e.g. {max(1, batch_size // 4)}), or use --engine numpy, "
                                     "which holds one layer's activations at a time") from None
        return dict(raw, engine="ort", threads=self.threads)
