"""A synthetic clip with known objects: for the sample run, tests and benchmarks (no dataset needed)."""
from __future__ import annotations

import numpy as np


def synthetic_clip(num_frames: int = 24, height: int = 240, width: int = 320,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 RGB and ground-truth ids (T, H, W) uint8 (0 = background).

    A textured disc moves left to right and a textured square top to bottom over
    a smooth, slowly drifting background.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = rng.integers(0, 40, size=(height, width, 3)).astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    ids = np.zeros((num_frames, height, width), dtype=np.uint8)
    r = 0.18 * min(height, width)
    for t in range(num_frames):
        s = t / max(1, num_frames - 1)
        bg = np.stack([80 + 60 * np.sin(xx / 40 + s), 120 + 40 * np.cos(yy / 50), 90 + 30 * np.sin((xx + yy) / 70)], -1)
        img = bg + texture * 0.5
        cx, cy = (0.2 + 0.6 * s) * width, 0.35 * height
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
        sx, sy = 0.7 * width, (0.2 + 0.5 * s) * height
        square = (np.abs(xx - sx) <= r) & (np.abs(yy - sy) <= r)
        img[disc] = np.array([220, 40, 40]) + texture[disc]
        img[square] = np.array([40, 60, 220]) + texture[square]
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
        ids[t][disc] = 1
        ids[t][square] = 2
    return frames, ids
