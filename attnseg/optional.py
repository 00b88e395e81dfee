"""Optional packages: one probe, and one sentence naming what is missing and how to install it.

    reason = missing("zmq", extra="zmq", names="pyzmq")   # None, or "pyzmq is not installed (pip install ...)"
    require("scipy", extra="eval", what="attnseg eval")   # raises MissingDependency with that sentence

Nothing here imports the packages it probes (importlib.util.find_spec), so a probe is cheap and never
fails on a broken install's import-time side effects.
"""
from __future__ import annotations

import importlib.util

from .errors import MissingDependency


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a half-installed module
        return False


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None (read from its metadata: nothing is imported)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def missing(*modules: str, extra: str, names: str | None = None) -> str | None:
    """None when every module is importable, else why not, with the install line of `extra`."""
    absent = [m for m in modules if not importable(m)]
    if not absent:
        return None
    what = names or ", ".join(absent)
    verb = "is" if names or len(absent) == 1 else "are"
    return f"{what} {verb} not installed (pip install 'attnseg[{extra}]')"


def require(*modules: str, extra: str, what: str, names: str | None = None) -> None:
    """Raise MissingDependency("WHAT needs ...: NAMES is not installed (pip install ...)") unless importable."""
    reason = missing(*modules, extra=extra, names=names)
    if reason:
        raise MissingDependency(f"cannot {what}: {reason}")
