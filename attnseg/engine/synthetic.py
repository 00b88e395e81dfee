"""A synthetic clip with known objects: for the sample run, tests and benchmarks (no dataset needed)."""
from __future__ import annotations

import numpy as np


class SyntheticClip:
    """The clip's frames made one at a time on indexing (memory stays one frame, whatever `num_frames`).

    A textured disc moves left to right and a textured square top to bottom over
    a smooth, slowly drifting background. `clip[t]` is frame t, (H, W, 3) uint8 RGB; `clip.scene(t)` that
    frame and its ground-truth ids (H, W) uint8 (0 = background).
    """

    def __init__(self, num_frames: int = 24, height: int = 240, width: int = 320, seed: int = 0):
        if num_frames < 0 or height < 1 or width < 1:
            raise ValueError(f"a synthetic clip needs frames >= 0 and a size >= 1x1, got {num_frames} frames "
                             f"of {height}x{width}")
        self.num_frames, self.height, self.width = num_frames, height, width
        rng = np.random.default_rng(seed)
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.texture = rng.integers(0, 40, size=(height, width, 3)).astype(np.float32)

    def __len__(self) -> int:
        return self.num_frames

    def scene(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= t < self.num_frames:
            raise IndexError(f"frame {t} of a {self.num_frames}-frame clip")
        xx, yy, texture, height, width = self.xx, self.yy, self.texture, self.height, self.width
        r = 0.18 * min(height, width)
        s = t / max(1, self.num_frames - 1)
        bg = np.stack([80 + 60 * np.sin(xx / 40 + s), 120 + 40 * np.cos(yy / 50), 90 + 30 * np.sin((xx + yy) / 70)], -1)
        img = bg + texture * 0.5
        cx, cy = (0.2 + 0.6 * s) * width, 0.35 * height
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
        sx, sy = 0.7 * width, (0.2 + 0.5 * s) * height
        square = (np.abs(xx - sx) <= r) & (np.abs(yy - sy) <= r)
        img[disc] = np.array([220, 40, 40]) + texture[disc]
        img[square] = np.array([40, 60, 220]) + texture[square]
        ids = np.zeros((height, width), dtype=np.uint8)
        ids[disc] = 1
        ids[square] = 2
        return np.clip(img, 0, 255).astype(np.uint8), ids

    def __getitem__(self, t: int) -> np.ndarray:
        return self.scene(t)[0]


def synthetic_clip(num_frames: int = 24, height: int = 240, width: int = 320,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The whole clip in memory: frames (T, H, W, 3) uint8 RGB and ground-truth ids (T, H, W) uint8."""
    clip = SyntheticClip(num_frames, height, width, seed)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    ids = np.empty((num_frames, height, width), dtype=np.uint8)
    for t in range(num_frames):
        frames[t], ids[t] = clip.scene(t)
    return frames, ids
