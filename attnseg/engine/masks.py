"""Patch labels -> label maps at the frame's size (SPEC 7: nearest-neighbour, as the released code)."""
from __future__ import annotations

import functools
import threading
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


def upsample_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) patch labels -> (T, H0, W0) with nearest-neighbour upsampling."""
    t = torch.from_numpy(np.ascontiguousarray(labels)).float()[:, None]
    return F.interpolate(t, size=size, mode="nearest")[:, 0].to(torch.int32).numpy()


@functools.lru_cache(maxsize=16)
def nearest_cells(grid: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, bool]:
    """How upsample_labels maps a (h, w) grid onto (H, W): each pixel row's grid row (H,), each pixel column's
    grid column (W,) (nearest-neighbour upsampling is separable), and whether OpenCV's nearest resize picks
    the same cells (checked here, once per pair of sizes)."""
    import cv2

    h, w = grid
    cell = upsample_labels(np.arange(h * w, dtype=np.int32).reshape(1, h, w), size)[0]
    index = np.arange(h * w, dtype=np.float32).reshape(h, w)  # exact in float32 below 2**24 cells
    same = np.array_equal(cv2.resize(index, size[::-1], interpolation=cv2.INTER_NEAREST).astype(np.int32), cell)
    return cell[:, 0] // w, cell[0, :] % w, same


def upsample_grid(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """upsample_labels for one map (h, w) or colours (h, w, 3), without torch (whose thread pool the front-end
    may hold): OpenCV's resize where it picks the same cells, else rows and columns repeated."""
    rows, cols, same = nearest_cells(cells.shape[:2], size)
    if same and cells.dtype in (np.uint8, np.int32):
        import cv2

        return cv2.resize(cells, size[::-1], interpolation=cv2.INTER_NEAREST)
    return cells[rows[:, None], cols[None, :]]


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


class Maps:
    """A frame's label maps: `labels` (h, w) ids per patch, `mask` (H0, W0) ids at the frame's size, and `grid`, the
    coarsest map `mask` is the nearest upsampling of (a segmented frame's patch labels; a carried frame's flow-sized
    map; a full-size map is its own grid). Each is given, or made on first use by `make()` -> (labels, mask, grid),
    once, whichever thread asks first: a stream pays for a full-size mask, or a carried frame's flow
    (attnseg.engine.live.carry), only for a frame some output takes."""

    def __init__(self, labels: np.ndarray | None = None, mask: np.ndarray | None = None,
                 grid: np.ndarray | None = None, make: Callable[[], tuple] | None = None):
        self._maps = [labels, mask, labels if grid is None else grid]
        self._make, self._lock = make, threading.Lock()
        if make is None and not self.made:
            raise ValueError("Maps: give labels and mask, or what makes them")

    def _get(self, i: int) -> np.ndarray:
        if self._maps[i] is None:
            with self._lock:
                if self._make is not None:
                    made, self._make = self._make(), None
                    self._maps = [given if given is not None else new for given, new in zip(self._maps, made)]
        return self._maps[i]

    @property
    def made(self) -> bool:
        """Every map is there (nothing left to make)."""
        return all(m is not None for m in self._maps)

    labels = property(lambda self: self._get(0))
    mask = property(lambda self: self._get(1))
    grid = property(lambda self: self._get(2))

    @classmethod
    def segmented(cls, patch: np.ndarray, size: tuple[int, int],
                  spent: Callable[[float], None] = lambda seconds: None) -> "Maps":
        """A segmented frame's: its patch labels; the mask at `size` upsampled when asked (as upsample_labels),
        `spent(seconds)` told what that took."""
        def make():
            start = time.perf_counter()
            mask = upsample_grid(patch, size)
            spent(time.perf_counter() - start)
            return patch, mask, patch

        return cls(patch, make=make)


class OnMaps:
    """The label maps of a frame that holds them in `maps` (a Maps), as attributes: a stream's result, an output's
    frame. Each is made when first read."""

    maps: Maps

    @property
    def labels(self) -> np.ndarray:
        """(h, w) int32 ids per patch (`labels` are always patches)."""
        return self.maps.labels

    @property
    def mask(self) -> np.ndarray:
        """(H0, W0) int32 ids at the frame's size."""
        return self.maps.mask

    @property
    def grid(self) -> np.ndarray:
        """The coarsest map `mask` is the nearest upsampling of (the patch labels, or a carried frame's small map)."""
        return self.maps.grid
