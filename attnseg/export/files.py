"""Atomic file writes for artifacts: a temporary name in the same folder, then one rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def publish(tmp: Path, dest: Path) -> None:
    """Move a finished file into place (same filesystem: atomic), readable as a normal file would be."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def write_atomic(dest: Path, data: bytes | str) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        publish(Path(tmp), dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
