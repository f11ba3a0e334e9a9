"""Long fuzz run: `python -m tests.fuzz --minutes 10 [--seed 1] [--save-findings DIR]`.

Runs hypothesis-generated mutation cases in chunks until the time is up, then prints how many ran, how they ended
(accepted / refused by error type) and every finding (an undocumented exception, a hang over 10 s, a stray file).
Exit status: 0 when nothing was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tests.fuzz.engine import fuzz
from tests.fuzz.harness import HANG_SECONDS, Stats, bundled_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first hypothesis seed")
    parser.add_argument("--chunk", type=int, default=100, help="cases per hypothesis run")
    parser.add_argument("--save-findings", type=Path, default=None, help="write each finding's input here")
    parser.add_argument("--engine", choices=["hypothesis", "atheris", "structured"], default="hypothesis",
                        help="hypothesis (default), coverage-guided libFuzzer through atheris (pip install atheris), "
                             "or structured: graphs, mapping files and profiles crafted field by field")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.chunk < 1:
        parser.error("--minutes and --chunk must be positive")

    os.environ.setdefault("SNNCC_MAX_BYTES", "512M")
    if args.engine == "structured":
        from tests.fuzz.structured import main as structured

        return structured(["--minutes", str(args.minutes), "--seed", str(args.seed)])
    if args.engine == "atheris":   # a fresh process, so that snncc is imported under coverage instrumentation
        import subprocess

        return subprocess.call([sys.executable, "-m", "tests.fuzz.atheris_engine", str(args.minutes)])
    start = time.monotonic()
    seeds = bundled_seeds(include_models=True)
    print(f"seeds: {', '.join(f'{s.name} ({s.kind}, {len(s.data)} B)' for s in seeds)}", flush=True)
    stats = Stats()
    chunk_seed = args.seed
    while time.monotonic() - start < args.minutes * 60:
        fuzz(seeds, stats, examples=args.chunk, seed=chunk_seed)
        chunk_seed += 1
        elapsed = time.monotonic() - start
        print(f"[{elapsed / 60:5.1f} min] {stats.cases} cases, {stats.accepted} accepted, {stats.refused} refused, "
              f"{len(stats.findings)} findings, slowest case {stats.slowest:.2f} s", flush=True)

    return report(stats, args.save_findings, start, f"hypothesis seeds {args.seed}..{chunk_seed - 1}")


def report(stats: Stats, save_findings: Path | None, start: float, engine: str) -> int:
    """Print how many cases ran, how they ended and every distinct finding; 1 when anything was found."""
    print(f"\n{engine}: {stats.cases} mutated inputs in {(time.monotonic() - start) / 60:.1f} min; "
          f"accepted {stats.accepted}, refused {stats.refused}")
    for name, count in sorted(stats.errors.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24} {count}")
    hangs = sum(f.problem == "hang" for f in stats.findings)
    stray = sum(f.problem == "stray file" for f in stats.findings)
    crashes = sum(f.problem == "exception" for f in stats.findings)
    print(f"findings: {crashes} undocumented exceptions, {hangs} hangs over {HANG_SECONDS:.0f} s, "
          f"{stray} files written outside the output folder; slowest case {stats.slowest:.2f} s")
    seen = set()
    for i, f in enumerate(stats.findings):
        key = (f.problem, f.detail.strip().splitlines()[-1] if f.detail.strip() else "")
        if save_findings:
            save_findings.mkdir(parents=True, exist_ok=True)
            (save_findings / f"{i:04d}-{f.seed}.{f.kind}").write_bytes(f.data)
        if key in seen:
            continue
        seen.add(key)
        print(f"\n--- {f.problem} on a mutated {f.seed} ({f.kind}) ---\n{f.detail}")
    return 1 if stats.findings else 0


if __name__ == "__main__":
    sys.exit(main())
