"""Named states: an enum whose members are also their string values (attnseg.settings has them all)."""
from __future__ import annotations

import re
from enum import Enum
from typing import Any

from .errors import SettingError


class Choice(str, Enum):
    """A named state: compares, prints and serializes as its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def parse(cls, value: Any, what: str | None = None):
        """The member whose value is `value` (or the member itself); SettingError naming the valid ones."""
        if isinstance(value, cls):
            return value
        aliases = getattr(cls, "_aliases", lambda: {})()
        try:
            return cls(aliases.get(value, value))
        except ValueError:
            valid = ", ".join([*cls.values(), *aliases])
            what = what or re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()  # DropPolicy: "drop policy"
            raise SettingError(f"unknown {what} {value!r}; choose from {valid}") from None
