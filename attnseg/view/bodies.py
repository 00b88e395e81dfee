"""What the live page's POST bodies may hold: each field checked by type and range, a ValueError (answered 400)
naming the field otherwise. Numbers are checked before any arithmetic: a whole number of 400 digits is refused,
not turned into an OverflowError."""
from __future__ import annotations

import json
import math


def checked(body: dict, **fields) -> dict:
    """The body's fields, each checked by its function (ValueError naming the field); other keys are refused."""
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ValueError(f"unknown fields {unknown[:5]}; known: {', '.join(fields)}")
    out = {}
    for name, check in fields.items():
        if name in body:
            try:
                out[name] = check(body[name])
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
    return out


def _shown(value) -> str:
    try:
        return json.dumps(value)[:40]
    except ValueError:  # an integer too long for json to write
        return "a number too large"


def _real(value) -> float | None:
    """`value` as a finite float, or None (not a number, a bool, nan, infinite, too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"true or false, got {_shown(value)}")
    return value


def finite(value):
    number = _real(value)
    if number is None:
        raise ValueError(f"a finite number, got {_shown(value)}")
    return number


def fraction(value):
    number = _real(value)
    if number is None or not 0 <= number <= 1:
        raise ValueError(f"a number in [0, 1], got {_shown(value)}")
    return number


def object_id(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31):
        raise ValueError(f"an object id (a whole number >= 0) or null, got {_shown(value)}")
    return value


def frame_number(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"a frame number, got {_shown(value)}")
    return value


PAINTS_PER_REPORT = 64  # paints one report may carry


def paints(value):
    """A page's paints: [[frame, ms since it was painted], ...], at most PAINTS_PER_REPORT of them."""
    if not isinstance(value, list) or not 0 < len(value) <= PAINTS_PER_REPORT:
        raise ValueError(f"a list of 1 to {PAINTS_PER_REPORT} [frame, ms ago] pairs, got {_shown(value)}")
    out = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"a [frame, ms ago] pair, got {_shown(pair)}")
        ago = _real(pair[1])
        if ago is None or not 0 <= ago <= 60_000:
            raise ValueError(f"ms ago: a number in [0, 60000], got {_shown(pair[1])}")
        out.append((frame_number(pair[0]), ago / 1000))
    return out
