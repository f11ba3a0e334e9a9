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
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from snncc.errors import OutputError
from snncc.ir.atomic_write import remove_stale_temps, temp_path, unsafe_target_reason


def _mode(base: int = 0o666) -> int:
    """`base` minus the process umask: what `open(path, "w")` / `mkdir` would have given (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def check_target(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """OutputError unless `path` can be written: its parent folder exists and is writable, and it is either absent
    or of the wanted kind (a regular file, or a folder for a folder output: never a device, FIFO, socket or link).
    Removes our stale temporaries in that folder (left by a killed run)."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    what = "folder" if folder else "file"
    if not parent.is_dir():
        raise OutputError(f"{target}: cannot write this output {what}: the folder {parent} does not exist; "
                          "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{target}: cannot write this output {what}: no write permission in {parent}")
    if not folder and target.is_dir() and not target.is_symlink():
        raise OutputError(f"{target}: is a folder; give a file name for this output")
    reason = unsafe_target_reason(target, folder=folder)
    if reason:
        raise OutputError(f"{target}: {reason}")
    remove_stale_temps(parent)
    return target


def _identity(path: str | os.PathLike) -> tuple[str, tuple[int, int] | None]:
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
        return real, (info.st_dev, info.st_ino)
    except OSError:
        return real, None


def check_distinct(inputs: dict[str, str | os.PathLike | None], outputs: dict[str, str | os.PathLike | None]) -> None:
    """OutputError when two outputs name the same file, or an output names an input (after resolving `.`, `..`,
    symbolic links and hard links): one would silently overwrite the other. Labels (option names) go in the
    message; None entries are ignored."""
    seen: list[tuple[str, str, tuple[str, tuple[int, int] | None]]] = []
    for kind, entries in (("input", inputs), ("output", outputs)):
        for label, path in entries.items():
            if path is None:
                continue
            ident = _identity(path)
            for other_kind, other_label, other in seen:
                same = ident[0] == other[0] or (ident[1] is not None and ident[1] == other[1])
                if same and not (kind == other_kind == "input"):
                    raise OutputError(f"{path}: {label} and {other_label} ({other_kind}) are the same file; "
                                      f"writing {label} would overwrite it. Choose a different name")
            seen.append((kind, label, ident))


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

    def file(self, path: str | os.PathLike, data: bytes | str | Iterable[bytes]) -> None:
        """Write `data` under a temporary name next to `path`."""
        target = check_target(path)
        payload = data.encode() if isinstance(data, str) else data
        tmp = temp_path(target)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
        self._staged.append((tmp, target, False))
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in ([payload] if isinstance(payload, (bytes, bytearray)) else payload):
                    f.write(chunk)   # an iterable of chunks is written without joining them
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _mode())
        except OSError as exc:
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None

    def folder(self, path: str | os.PathLike, fill: Callable[[Path], object]) -> None:
        """Create a temporary folder next to `path` and let `fill(tmp_folder)` write into it."""
        target = check_target(path, folder=True)
        tmp = temp_path(target)
        try:
            os.mkdir(tmp, 0o700)
            os.chmod(tmp, _mode(0o777))
        except OSError as exc:
            raise OutputError(f"{target}: cannot create: {exc.strerror or exc}") from None
        self._staged.append((tmp, target, True))
        fill(tmp)

    def _moves(self) -> list[tuple[Path, Path, bool]]:
        """Every rename the commit makes, (source, destination, is_folder); a folder written over an existing one
        is merged into it entry by entry (the user's other files stay)."""
        def merge(src: Path, dst: Path, is_folder: bool):
            if is_folder and dst.is_dir() and not dst.is_symlink():
                for entry in sorted(src.iterdir()):
                    yield from merge(entry, dst / entry.name, entry.is_dir() and not entry.is_symlink())
            else:
                yield src, dst, is_folder

        return [m for tmp, target, is_folder in self._staged for m in merge(tmp, target, is_folder)]

    def commit(self) -> None:
        """Rename every staged output into place, all or nothing: every destination is checked first; if a rename
        still fails, those already made are undone (replaced files come back from a hard-linked backup). Ctrl-C
        and SIGTERM are held back until the outputs are in place."""
        moves = self._moves()
        for _, dst, is_folder in moves:
            if not dst.parent.is_dir():
                raise OutputError(f"{dst}: cannot move the output into place: {dst.parent} is not a folder")
            reason = unsafe_target_reason(dst, folder=is_folder)
            if reason:
                raise OutputError(f"{dst}: {reason}")
        with signals_deferred():
            done: list[tuple[Path, Path, Path | None]] = []   # (source, destination, backup of the old file)
            try:
                for src, dst, _ in moves:
                    backup = None
                    if os.path.lexists(dst):
                        backup = temp_path(dst)
                        try:
                            os.link(dst, backup)
                        except OSError:
                            shutil.copy2(dst, backup)
                    try:
                        os.replace(src, dst)
                    except BaseException:
                        if backup is not None:
                            os.unlink(backup)
                        raise
                    done.append((src, dst, backup))
            except OSError as exc:
                self._roll_back(done)
                raise OutputError(f"{exc.filename or 'outputs'}: cannot move the outputs into place: "
                                  f"{exc.strerror or exc}; nothing was changed") from None
            for _, _, backup in done:
                if backup is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(backup)
            self.discard()   # the emptied temporary folders of merged outputs
        self.committed = True

    @staticmethod
    def _roll_back(done: list[tuple[Path, Path, Path | None]]) -> None:
        for src, dst, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, dst)
                else:
                    os.replace(dst, src)   # back under its temporary name, removed by discard()

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
