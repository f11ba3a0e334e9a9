"""Write a file so that readers see either the old content or the whole new content, never a part.

Temporary files and folders are named `.<target name>.snncc-<pid>-<random>.tmp` in the target's folder (the target
name shortened so that the whole name stays under the 255-byte limit of most file systems). A process killed with
SIGKILL cannot remove its own; the next write into that folder removes the ones whose process is gone or that are
older than STALE_SECONDS.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import Iterable

STALE_SECONDS = 3600
MAX_NAME_BYTES = 255
_TEMP = re.compile(r"^\..*\.snncc-(\d+)-[0-9a-f]{8}\.tmp$", re.DOTALL)


def temp_path(target: Path) -> Path:
    """A fresh temporary name next to `target` that names our process (for stale clean-up) and fits in 255 bytes."""
    suffix = f".snncc-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    room = MAX_NAME_BYTES - 1 - len(suffix)
    name = target.name
    while len(os.fsencode(name)) > room:   # shorten by characters, never splitting a multi-byte one
        name = name[:-1]
    return target.parent / f".{name}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def remove_stale_temps(folder: Path) -> None:
    """Remove our temporaries in `folder` left by killed processes: pid gone, or older than STALE_SECONDS. Only
    entries owned by the current user and matching our name pattern are touched."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
                continue
            if _alive(int(m.group(1))) and now - info.st_mtime < STALE_SECONDS:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def unsafe_target_reason(target: Path, *, folder: bool = False) -> str | None:
    """Why an existing `target` must not be replaced by a rename, or None: anything that is not a regular file
    (a device such as /dev/null, a FIFO, a socket, a symbolic link) or, for a folder output, not a folder."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    if folder and stat.S_ISDIR(mode):
        return None
    if not folder and stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return ("is a symbolic link; outputs are replaced by renaming, which would replace the link and not what "
                "it points to: give the real path")
    kind = ("a folder" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket"
            if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    wanted = "folder" if folder else "regular file"
    return f"exists and is {kind}, not a {wanted}; refusing to replace it: choose another output name"


def atomic_write(path: str | os.PathLike, data: bytes | str | Iterable[bytes]) -> None:
    """Write `data` to a temporary file in the target folder, fsync it, then rename it over `path`. OSError when
    the folder is missing or the target exists and is not a regular file."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {folder} does not exist")
    reason = unsafe_target_reason(target)
    if reason:
        raise OSError(errno.EEXIST, reason, str(target))
    remove_stale_temps(folder)
    payload = data.encode() if isinstance(data, str) else data
    tmp = temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in ([payload] if isinstance(payload, (bytes, bytearray)) else payload):
                f.write(chunk)   # an iterable of chunks is written without joining them
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # created 0o600; give what open(path, "w") would
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
