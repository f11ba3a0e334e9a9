"""Optional coverage-guided engine: libFuzzer (through atheris) mutates the seed files' bytes directly, guided by
which snncc code each case reaches. `python -m tests.fuzz --engine atheris --minutes 10` runs
`python -m tests.fuzz.atheris_engine MINUTES` (needs `pip install atheris`); the hypothesis engine is the default
and the one CI runs.

Each libFuzzer input is one selector byte (which seed: .onnx, .snnir or text) followed by the file. snncc is
imported under atheris' instrumentation here, before anything else imports it, so that coverage guides the search.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["snncc"]):
    import snncc  # noqa: F401
    import snncc.backends.simulator  # noqa: F401
    import snncc.cli  # noqa: F401
    import snncc.data  # noqa: F401
    import snncc.ir.parse  # noqa: F401

from tests.fuzz.harness import Stats, bundled_seeds, make_sandbox, run_case  # noqa: E402


def main(argv: list[str]) -> None:
    from tests.fuzz.__main__ import report

    minutes = float(argv[0]) if argv else 10.0
    start = time.monotonic()
    seeds = bundled_seeds(include_models=True)
    stats = Stats()
    root = make_sandbox(Path(tempfile.mkdtemp(prefix="snncc-fuzz-atheris-")))
    corpus = Path(tempfile.mkdtemp(prefix="snncc-fuzz-corpus-"))
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(bytes([i]) + seed.data)

    def target(data: bytes) -> None:
        if time.monotonic() - start > minutes * 60:   # libFuzzer's own exit skips atexit: report and leave here
            code = report(stats, None, start, "atheris (libFuzzer, coverage-guided)")
            sys.stdout.flush()
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(corpus, ignore_errors=True)
            os._exit(code)
        if data:
            seed = seeds[data[0] % len(seeds)]
            found = len(stats.findings)
            run_case(seed, data[1:], root, via_cli=False, simulate=True, stats=stats)
            if len(stats.findings) > found:
                print(f"FINDING ({stats.findings[-1].problem}): {stats.findings[-1].detail[-500:]}", flush=True)

    atheris.Setup([sys.argv[0], f"-max_total_time={max(1, int(minutes * 60)) + 60}", "-timeout=10",
                   "-rss_limit_mb=6144", str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv[1:])
