"""Codings as named default pipelines: `--coding rate` means the pipeline string `CODINGS["rate"](options)`."""

from __future__ import annotations

from typing import Callable

from snncc.errors import OptionError

# match-activations and match-qcfs first: they read activations as exported (Div/Mul/Add/Clip/Floor) before
# fold-affine merges their parts
CANONICALIZE = "match-activations,match-qcfs,fold-bn,fold-affine,fold-input-norm"


# calibrate-snn is on by default up to this T (when calibration data is given): where one time step's quantisation
# error is large enough that fitting the neurons on data pays for the compile time
CALIBRATE_SNN_MAX_T = 8


def calibrate_snn_step(timesteps: int, calibrate_snn: bool | None, has_calibration: bool) -> str:
    """`,calibrate-snn` where it runs: when asked (`True`), or by default (`None`) at T <= 8 with calibration data."""
    on = calibrate_snn if calibrate_snn is not None else (has_calibration and int(timesteps) <= CALIBRATE_SNN_MAX_T)
    return ",calibrate-snn" if on else ""


def rate_pipeline(balance: str = "channel", stat: str = "percentile", percentile: float | None = None,
                  v0: str = "half", timesteps: int = 32, calibrate_snn: bool | None = None,
                  has_calibration: bool = False, **_: object) -> str:
    """Soft-reset IF rate coding (algorithms.md §1.2-1.4). `percentile` None: 99.99 for stat=percentile, the
    maximum for max-input-current (Viet & Lee), whose calibration simulation starts its neurons at the same v0.
    calibrate-snn (docs/low_latency.md) after the lowering: see `calibrate_snn_step`."""
    from snncc.passes.balance_thresholds import default_q

    q = default_q(stat, percentile)
    neuron = f",v0={v0}" if stat == "max-input-current" else ""
    return (f"{CANONICALIZE},calibrate,balance-thresholds{{mode={balance},q={q},stat={stat}{neuron}}},"
            f"maxpool-to-relu-tree,lower-rate{{v0={v0}}}"
            f"{calibrate_snn_step(timesteps, calibrate_snn, has_calibration)},fold-out-scale")


CODINGS: dict[str, Callable[..., str]] = {"rate": rate_pipeline}


def register_coding(name: str, build: Callable[..., str]) -> None:
    """Add a `--coding NAME`: `build(**options)` returns its pipeline string."""
    CODINGS[name] = build


def registered_codings() -> dict[str, Callable[..., str]]:
    """Every coding: the built-in ones register when `snncc.passes` loads (the package loads it lazily, so that
    `snncc map` never imports the compiler), then any a user registered."""
    import snncc.passes  # noqa: F401

    return CODINGS


def pipeline_for(coding: str, **options: object) -> str:
    try:
        build = registered_codings()[coding]
    except KeyError:
        raise OptionError(f"unknown coding {coding!r}; available: {', '.join(sorted(CODINGS))}") from None
    return build(**options)


# codings whose window length is set per layer by its phases K (-K/--phases): --timesteps does not apply to them
PHASE_WINDOWED: set[str] = {"phase", "amos", "ttfs"}


def uses_timesteps(coding: str) -> bool:
    """Whether `--timesteps` means something for the coding: the run length (rate, signed) or the bits per window
    (bits); not for phase, amos and ttfs, whose windows are K steps per layer."""
    return coding not in PHASE_WINDOWED
