"""Command line of an emitted program (`snn_program.py` calls `program_main`): read `program.json` and
`weights.npz`, run, print the accuracy (or one JSON report) and write the predictions to `--out`."""

import argparse
import json
import os
import sys
import time

import numpy as np

from .program import Program, predictions_of, simulate_program

PROGRAM_FILE = "program.json"
WEIGHTS_FILE = "weights.npz"


def load_program(directory):
    """Read `program.json` and `weights.npz` (no pickles) from an emitted program's folder."""
    with open(os.path.join(directory, PROGRAM_FILE), encoding="utf-8") as f:
        description = json.load(f)
    with np.load(os.path.join(directory, WEIGHTS_FILE), allow_pickle=False) as weights:
        constants = {name: weights[name] for name in weights.files}
    return Program(description, constants)


def _parse_timesteps(text):
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"timesteps must be integers like 32 or 4,8,16, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"timesteps must be positive, got {text!r}")
    return values


def program_main(argv, directory):
    """Command line of an emitted program:

        python snn_program.py INPUT.npz [--timesteps T[,T2,...]] [--batch-size B] [--input-coding analog|poisson]
                                        [--seed S] [--json] [--out PREDICTIONS] [--progress]

    INPUT.npz holds the samples under the input's name (or `x` for a single-input program) and optional labels `y`.
    Prints a short report (samples, accuracy per T when `y` is given, spikes per sample); `--out FILE` writes the
    predictions for the largest T (`.npy`: an array; otherwise text, one line per sample). With --json, one JSON
    object with predictions and accuracy per T and the spike, SynOps and energy counts.
    """
    program = load_program(directory)
    default_t = program.meta.get("timesteps", "32")
    parser = argparse.ArgumentParser(prog="snn_program.py", description="Run a compiled spiking network.")
    parser.add_argument("input", help="npz with the samples (key: input name, or x) and optional labels y")
    parser.add_argument("--timesteps", type=_parse_timesteps, default=_parse_timesteps(default_t),
                        help=f"steps, or a comma list of snapshot steps (default {default_t})")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--input-coding", choices=("analog", "poisson"), default="analog")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object with all results")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write the predictions for the largest T here (.npy: an array; else one line per sample)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    args = parser.parse_args(argv)
    with np.load(args.input, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    inputs = {}
    for name in program.inputs:
        if name in arrays:
            inputs[name] = arrays[name]
        elif len(program.inputs) == 1 and "x" in arrays:
            inputs[name] = arrays["x"]
        else:
            parser.error(f"{args.input} has no array {name!r} for program input %{name}")
    labels = arrays.get("y")
    start = time.perf_counter()
    result = simulate_program(program, inputs, args.timesteps, input_coding=args.input_coding, seed=args.seed,
                              batch_size=args.batch_size, progress=args.progress)
    seconds = time.perf_counter() - start
    first = program.outputs[0]
    predictions = {t: predictions_of(v) for t, v in result["outputs"][first].items()}
    accuracy = None
    if labels is not None:
        accuracy = {t: float(np.mean(p == labels)) for t, p in predictions.items()}
    if args.json:
        report = {key: result[key] for key in ("timesteps", "spikes_per_layer", "spikes_per_sample",
                                               "synops_per_sample", "ann_macs_per_sample", "snn_macs_per_sample",
                                               "ann_energy_pj", "snn_energy_pj", "energy_ratio",
                                               "max_spikes_per_neuron", "n_samples", "latency_steps",
                                               "pipeline_interval_steps")}
        report["energy_ratio_at"] = {str(t): r for t, r in result["energy_ratio_at"].items()}
        report["output"] = first
        report["simulate_seconds"] = seconds     # the simulation alone: no interpreter start, imports or loading
        report["predictions"] = {str(t): p.tolist() for t, p in predictions.items()}
        if accuracy is not None:
            report["accuracy"] = {str(t): a for t, a in accuracy.items()}
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_summary(program, result, accuracy, args) + "\n")
    if args.out:
        write_predictions(args.out, predictions[result["timesteps"][-1]])
        if not args.json:
            sys.stdout.write(f"predictions (T={result['timesteps'][-1]}) written to {args.out}\n")
    return 0


def _summary(program, result, accuracy, args):
    """A few lines for a person: samples, accuracy per T (or why there is none), spikes, where the predictions go."""
    windowed = program.schedule == "windowed"
    lines = [f"samples: {result['n_samples']}"]
    if accuracy is None:
        lines.append(f"accuracy: no labels 'y' in {args.input}")
    elif windowed:   # one run of fixed latency: T is not a free choice
        lines.append(f"accuracy: {100 * accuracy[result['timesteps'][-1]]:.2f}% "
                     f"(latency {result['latency_steps']} steps)")
    else:
        lines += [f"accuracy at T={t}: {100 * a:.2f}%" for t, a in accuracy.items()]
    lines.append(f"spikes/sample: {result['spikes_per_sample']:.1f}")
    if not args.out:
        lines.append("predictions: not saved (pass --out FILE, or --json)")
    return "\n".join(lines)


def write_predictions(path, predictions):
    """Atomically write predictions: `.npy` as an int64 array, otherwise text with one line per sample."""
    predictions = np.asarray(predictions, dtype=np.int64)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if str(path).endswith(".npy"):
            with open(tmp, "wb") as f:
                np.save(f, predictions)
        else:
            rows = predictions.reshape(predictions.shape[0], -1)
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(" ".join(str(int(v)) for v in row) + "\n" for row in rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
