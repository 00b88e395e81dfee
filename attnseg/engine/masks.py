"""Patch labels -> label maps at the frame's size (SPEC 7: nearest-neighbour, as the released code)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def upsample_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) patch labels -> (T, H0, W0) with nearest-neighbour upsampling."""
    t = torch.from_numpy(np.ascontiguousarray(labels)).float()[:, None]
    return F.interpolate(t, size=size, mode="nearest")[:, 0].to(torch.int32).numpy()


def label_maps(ids: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One frame's ids per patch (h*w,) -> (patch ids (h, w) int32, label map (H0, W0) at the frame's size)."""
    patch = ids.view(*grid).to(torch.int32).cpu().numpy()
    return patch, upsample_labels(patch[None], size)[0]


def sample_grid(labels: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A label map (H0, W0) read at the centres of a (h, w) grid of cells: (h, w) int32."""
    (h, w), (big_h, big_w) = grid, labels.shape
    rows = ((np.arange(h) + 0.5) * big_h / h).astype(np.int64)
    cols = ((np.arange(w) + 0.5) * big_w / w).astype(np.int64)
    return np.ascontiguousarray(labels[rows[:, None], cols[None, :]], dtype=np.int32)
