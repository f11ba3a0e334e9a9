"""Signal handlers for the first moments of the `snncc` command, before `main()` runs: importing snncc (numpy,
onnx, onnxruntime) takes a second or more, and a Ctrl-C in that time would print a KeyboardInterrupt traceback from
the import, a SIGTERM would end the process without a word. Installed by `snncc/__init__.py` before any heavy import,
only when the process is the `snncc` command or `python -m snncc` (a library user's handlers are never touched);
`main()` replaces them.
Nothing has been written yet at that point, so the handler just says so and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

EXIT = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


def _early(signum, frame) -> None:
    word, code = EXIT[signum]
    try:
        os.write(2, f"{word}\n".encode())
    finally:
        os._exit(code)


def is_command() -> bool:
    """Whether this process is the `snncc` command: the installed script, or `python -m snncc` (while the package
    is imported for -m, sys.argv[0] is still "-m"; the interpreter's own command line says which module)."""
    if os.path.basename(sys.argv[0] if sys.argv else "") == "snncc":
        return True
    argv = list(getattr(sys, "orig_argv", ()))[1:]
    while argv:
        arg = argv.pop(0)
        if arg == "-m":
            return bool(argv) and argv[0] == "snncc"
        if arg.startswith("-m"):
            return arg[2:] == "snncc"
        if arg in _VALUE_OPTIONS:    # -W ignore, -X dev
            argv = argv[1:]
        elif arg.startswith("-c") or arg == "-" or not arg.startswith("-"):   # -c code or a script: not the command
            return False
    return False


_VALUE_OPTIONS = {"-W", "-X", "--check-hash-based-pycs"}


def install_if_command() -> None:
    """Install the early handlers when this process is the `snncc` command."""
    if not is_command():
        return
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in EXIT:
        if signal.getsignal(signum) is not signal.SIG_IGN:   # ignored by the parent (nohup, `cmd &`): keep it so
            signal.signal(signum, _early)


def uninstall() -> None:
    """Back to Python's own handling (KeyboardInterrupt for Ctrl-C) where the early handlers are in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is _early:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is _early:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
