"""Atomic file writes, for every output and artifact: a temporary name beside the file, then one rename
(`write_json` for records and summaries); and `measured_once`, the cache of choices made by measurement
(kernels and backend `auto`).

An interrupted run never leaves a half-written file under the real name, and
files finished before a failure are kept.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


def temp_beside(dest: Path) -> Path:
    """An empty temporary file in dest's folder (created if needed), with dest's suffix."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=dest.suffix)
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, dest: Path) -> None:
    """Move a finished file into place (same filesystem: atomic), with the permissions of a plain new file."""
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
