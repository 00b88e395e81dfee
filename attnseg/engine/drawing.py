"""Drawing label maps: the DAVIS palette, each id's colour, the overlay of a frame and its boundaries."""
from __future__ import annotations

import functools

import numpy as np


@functools.cache
def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS/PASCAL VOC annotations, (256, 3) uint8 (read-only)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - j)
            c >>= 3
        palette[i] = rgb
    palette.flags.writeable = False
    return palette


def colour_of(obj: int) -> list[int]:
    """The overlay's colour of an id: the palette without black, so every id is visible."""
    return [int(c) for c in davis_palette()[(obj % 255) + 1]]


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels whose lower or right neighbour has another label (bool, mask's shape)."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:-1] |= mask[:-1] != mask[1:]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    return edge


def overlay(frame: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the label colours over an RGB frame; label boundaries drawn dark."""
    colours = davis_palette()[(mask % 255) + 1]  # skip black so every label is visible
    out = (frame * (1 - alpha) + colours * alpha).astype(np.uint8)
    out[boundary(mask)] = 0
    return out
