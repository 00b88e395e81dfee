"""How a setting is declared and checked (attnseg.settings uses these for every field): its default, help and the
CLI's spelling in one `setting(...)`, and the checks every interface shares. The ground floor: this file imports
only the errors.
"""
from __future__ import annotations

import math
from dataclasses import field
from typing import Any

from .errors import SettingError


def setting(default: Any = None, help: str = "", **cli: Any) -> Any:
    """A dataclass field (immutable default) with its help and, optionally, how the CLI spells it: flag,
    aliases (former flags), nargs, metavar, hidden, group="weights" (one of a mutually exclusive set),
    choices="arch" (the ViTs)."""
    return field(default=default, metadata={"help": help, **cli})


def positive(obj, *names: str) -> None:
    bad = [f"{n} = {getattr(obj, n)}" for n in names if getattr(obj, n) < 1]
    if bad:
        raise SettingError(f"{', '.join(bad)}: must be >= 1")


def finite(obj, *names: str, low: float = 0.0, strict: bool = False) -> None:
    """Each named number (None allowed) is finite and >= low (> low when strict): nan and inf are refused here, once,
    for every interface (the CLI, the demo, the ROS node's parameters)."""
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < low or (strict and value == low):
            raise SettingError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")


def choices(obj, **enums) -> None:
    """Turn each named field into its enum member (accepting the plain value), or raise naming the valid ones."""
    for name, cls in enums.items():
        value = getattr(obj, name)
        if value is not None:
            object.__setattr__(obj, name, cls.parse(value))
