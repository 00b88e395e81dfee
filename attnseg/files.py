"""Atomic file writes, for every output and artifact: a temporary name beside the file, then one rename
(`write_json` for records and summaries); and `measured_once`, the cache of choices made by measurement
(kernels and backend `auto`).

An interrupted run never leaves a half-written file under the real name, and
files finished before a failure are kept. Only a regular file is ever replaced: a device, a FIFO, a socket,
a folder or a symbolic link under an output's name is refused (`replaceable`), here at the rename and by the
commands before any work. A temporary file is named `.NAME.XXXXXXXX.tmp.SUFFIX` beside its file, so that
what a killed process left of it can be found again and removed (`leftovers`).
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator


TEMP_TAG = ".tmp"  # between a temporary file's random part and its suffix


def temp_beside(dest: Path) -> Path:
    """An empty temporary file in dest's folder (created if needed), ending with dest's suffix
    (`.NAME.XXXXXXXX.tmp.SUFFIX`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=TEMP_TAG + dest.suffix)
    os.close(fd)
    return Path(tmp)


def _temp_name(stem: str, suffix: str) -> re.Pattern:
    """What temp_beside names the temporary files of STEM.SUFFIX (mkstemp's eight characters between)."""
    return re.compile(rf"\.{stem}\.[a-z0-9_]{{8}}{re.escape(TEMP_TAG)}{suffix}")


def leftovers(dest: str | Path, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """The temporary files of `dest` (and of its name with each of `suffixes`) that a killed process left beside
    it. Nothing else matches: the name, eight random characters and the tag."""
    dest = Path(dest)
    wanted = [_temp_name(re.escape(dest.stem), re.escape(s)) for s in (dest.suffix, *suffixes)]
    try:
        return sorted(p for p in dest.parent.iterdir() if any(w.fullmatch(p.name) for w in wanted))
    except OSError:
        return []


def leftovers_in(folder: str | Path) -> list[Path]:
    """Every temporary file temp_beside made in `folder` (a folder of attnseg's own: the label PNGs)."""
    pattern = _temp_name(r"[^/]+", r"(\.[^./]+)?")
    try:
        return sorted(p for p in Path(folder).iterdir() if pattern.fullmatch(p.name))
    except OSError:
        return []


def kind_of(path: str | Path) -> str | None:
    """What is at `path`, not following a symbolic link: None (nothing), "file", or what else it is."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "something that cannot be inspected"
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def replaceable(dest: str | Path) -> str | None:
    """Why `dest` must not be replaced by a file (it exists and is not a regular file), or None."""
    kind = kind_of(dest)
    return None if kind in (None, "file") else f"it is a {kind}, not a regular file"


def publish(tmp: Path, dest: Path) -> None:
    """Move a finished file into place (same filesystem: atomic), with the permissions of a plain new file. Only
    a regular file (or nothing) is replaced: anything else under that name is an OSError naming it."""
    why = replaceable(dest)
    if why:
        raise FileExistsError(errno.EEXIST, f"not replaced: {why}", str(dest))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest` (same suffix); it becomes `dest` only on success."""
    dest = Path(dest)
    tmp = temp_beside(dest)
    try:
        yield tmp
        publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(dest: str | Path, data: bytes | str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_json(dest: str | Path, obj) -> None:
    """`obj` as indented JSON, atomically."""
    write_atomic(dest, json.dumps(obj, indent=1) + "\n")


def remembered(path: Path, key: dict) -> str | None:
    """The choice measured_once remembered in `path` for `key`, or None."""
    try:
        return json.loads(path.read_text()).get(json.dumps(key, sort_keys=True), {}).get("choice")
    except (OSError, ValueError, AttributeError):
        return None


def measured_once(path: Path, key: dict, measure: Callable[[], dict[str, float]], what: str
                  ) -> tuple[str, dict[str, float] | None]:
    """The fastest of the names `measure()` times (seconds each) for `key`, measured once and remembered in
    the JSON file `path`: (choice, the seconds just measured, or None when remembered). A cache that cannot
    be written costs a measurement next time, nothing else."""
    entry = json.dumps(key, sort_keys=True)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if entry in known:
        return known[entry]["choice"], None
    seconds = measure()
    choice = min(seconds, key=seconds.get)
    known[entry] = {"choice": choice, "seconds": seconds}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(known, indent=1))
    except OSError as err:
        logging.getLogger(__name__).warning("%s: cannot remember the choice in %s (%s)", what, path, err)
    return choice, seconds
