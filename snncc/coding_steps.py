"""What `-T/--timesteps` means for each coding, and the compile summary that says it.

rate and signed run T steps. bits and the phase codings run on the layer-windowed schedule: bits takes T as the
bits (steps) of every layer's window; phase, amos and ttfs set each window from K (`-K/--phases`), so a `-T` given
to them is not used, and `snncc compile`/`snncc eval` say so instead of ignoring it silently."""

from __future__ import annotations

import inspect

from snncc.ir import Graph

DEFAULT_TIMESTEPS = 32
# codings whose T is the length of every layer's window; their own default applies when -T is not given
T_IS_WINDOW = {"bits"}


def default_timesteps(coding: str) -> int:
    """The T a coding compiles with when -T is not given: 32, or the window length its pipeline builder defaults to
    (bits: 4; 32 bits would exceed float32's significand)."""
    if coding in T_IS_WINDOW:
        from snncc.pipeline import registered_codings

        default = inspect.signature(registered_codings()[coding]).parameters.get("timesteps")
        if default is not None and isinstance(default.default, int):
            return default.default
    return DEFAULT_TIMESTEPS


def timesteps_note(coding: str, given: int | None) -> str | None:
    """The note for a -T that a coding does not use (phase, amos, ttfs); None when it is used or was not given."""
    from snncc.pipeline import uses_timesteps

    if given is None or uses_timesteps(coding):
        return None
    return (f"note: -T/--timesteps {given} is not used by --coding {coding}: every layer emits in its own window of K "
            f"steps (set with -K/--phases), so the latency follows from K and the depth (shown below)")


def eval_timesteps_note(graph: Graph) -> str:
    """The note for `eval --timesteps` on a windowed graph, whose window lengths were fixed at compile time."""
    coding = graph.meta.get("coding", "windowed")
    fixed = "the bits per window" if coding in T_IS_WINDOW else "K per layer"
    return (f"--timesteps is not used by a {coding} model: it runs on the layer-windowed schedule with {fixed} fixed "
            "at compile time; its latency is shown instead (recompile to change it)")


def steps_summary(graph: Graph) -> str:
    """`T=32` for the concurrent schedule; `latency L steps, window W steps` (or `windows A-B steps` when the
    windows differ, as for amos) for the windowed one."""
    if graph.meta.get("schedule") != "windowed":
        return f"T={graph.meta.get('timesteps')}"
    from snncc.passes.insert_delays import latency_steps, window_of

    windows = sorted({window_of(n) for n in graph.nodes} - {0})
    latency = graph.meta.get("latency_steps") or latency_steps(graph)
    if not windows:
        return f"latency {latency} steps"
    window = (f"window {windows[0]} steps" if len(windows) == 1 else
              f"windows {windows[0]}-{windows[-1]} steps")
    return f"latency {latency} steps, {window}"
