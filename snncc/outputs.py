"""All-or-nothing outputs of one command: every file and folder is first written under a temporary name in its target
folder, then all of them are renamed into place together at `commit()`, with Ctrl-C (and SIGTERM) held back for those
few renames. An error or an interrupt before the commit removes the temporaries, so no partial output is left behind.

    with Outputs() as out:
        out.check("model.snnir")                      # fail early, before the long work
        ...compile...
        out.file("model.snnir", payload)
        out.folder("prog/", lambda tmp: emit_program(graph, tmp))
        out.commit()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from snncc.errors import OutputError


def _mode(base: int = 0o666) -> int:
    """`base` minus the process umask: what `open(path, "w")` / `mkdir` would have given (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def check_target(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """OutputError unless `path` can be written: its parent folder exists and is writable, and it is not a folder
    where a file is wanted (or a file where a folder is wanted)."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    what = "folder" if folder else "file"
    if not parent.is_dir():
        raise OutputError(f"{target}: cannot write this output {what}: the folder {parent} does not exist; "
                          "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{target}: cannot write this output {what}: no write permission in {parent}")
    if folder and target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder; choose another output folder")
    if not folder and target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name for this output")
    return target


@contextlib.contextmanager
def signals_deferred(signums=(signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold back SIGINT and SIGTERM for the duration of the block, then deliver the first one that arrived to the
    handler that was in place (KeyboardInterrupt for Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum)) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        os.kill(os.getpid(), received[0])   # now handled as it would have been


class Outputs:
    """Stage files and folders, then `commit()` them all; leaving the `with` block uncommitted discards them."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, bool]] = []   # (temporary, final, is_folder)
        self.committed = False

    def check(self, path: str | os.PathLike | None, *, folder: bool = False) -> None:
        """Fail now (before the long work) if `path` cannot be written later; None is ignored."""
        if path is not None:
            check_target(path, folder=folder)

    def file(self, path: str | os.PathLike, data: bytes | str) -> None:
        """Write `data` under a temporary name next to `path`."""
        target = check_target(path)
        payload = data.encode() if isinstance(data, str) else data
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
        except OSError as exc:
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
        self._staged.append((Path(tmp), target, False))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _mode())
        except OSError as exc:
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None

    def folder(self, path: str | os.PathLike, fill: Callable[[Path], object]) -> None:
        """Create a temporary folder next to `path` and let `fill(tmp_folder)` write into it."""
        target = check_target(path, folder=True)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."))
            os.chmod(tmp, _mode(0o777))
        except OSError as exc:
            raise OutputError(f"{target}: cannot create: {exc.strerror or exc}") from None
        self._staged.append((tmp, target, True))
        fill(tmp)

    def commit(self) -> None:
        """Rename every staged output into place (Ctrl-C and SIGTERM are held back until all are in place)."""
        with signals_deferred():
            try:
                for tmp, target, is_folder in self._staged:
                    if is_folder and target.is_dir():
                        # an existing folder: replace the files we wrote, keep the user's other files
                        for entry in sorted(tmp.iterdir()):
                            os.replace(entry, target / entry.name)
                        tmp.rmdir()
                    else:
                        os.replace(tmp, target)
            except OSError as exc:
                raise OutputError(f"cannot move the outputs into place: {exc.strerror or exc}") from None
            finally:
                self._staged = [s for s in self._staged if s[0].exists()]
        self.committed = True

    def discard(self) -> None:
        """Remove every staged temporary (nothing reaches its final name)."""
        for tmp, _, is_folder in self._staged:
            with contextlib.suppress(OSError):
                if is_folder:
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
        self._staged = []

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()
