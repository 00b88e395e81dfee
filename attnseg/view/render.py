"""A frame's page work, from its grid labels: the objects (ids, areas, label positions) and the overlay.

A label map at the frame's size is the nearest-neighbour upsampling of a small grid (a segmented frame's patch
labels, a carried frame's flow-sized map: StreamResult.grid_labels), so every grid cell covers a known block of
pixels. `Layout` holds those blocks for one (grid, frame) size pair, built once; from it:
- `objects(grid, layout)`: each id's area (its pixels / the frame's, exact) and centre (the mean of its pixels'
  coordinates, exact), from a weighted count over the grid's cells, never over the frame's pixels;
- `render(image, grid, layout, opacity, following)`: the overlay in uint8 (the colours of the palette, built
  once, repeated up to the frame's blocks; a weighted sum in integers), the label boundaries (where a block's
  neighbour below or to the right has another id: the same pixels as attnseg.engine.drawing.boundary on the
  full map) dark, and each id at its centre.
benchmarks/page_work.py times it against the drawing on full-size maps.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..engine.drawing import davis_palette
from ..engine.masks import nearest_cells, upsample_grid


@dataclass(frozen=True)
class Layout:
    rows: np.ndarray  # (h,) frame rows per grid row
    cols: np.ndarray  # (w,) frame columns per grid column
    weight: np.ndarray  # (h * w,) pixels per cell
    x_sum: np.ndarray  # (h * w,) sum of the x coordinates of a cell's pixels
    y_sum: np.ndarray  # (h * w,) sum of the y coordinates of a cell's pixels
    size: tuple[int, int]  # (H, W) of the frame


@functools.lru_cache(maxsize=8)
def layout(grid: tuple[int, int], size: tuple[int, int]) -> Layout:
    """The pixel blocks of a (h, w) grid upsampled to (H, W) by attnseg.engine.masks.upsample_labels."""
    h, w = grid
    row_of, col_of, _ = nearest_cells(grid, size)
    rows, cols = np.bincount(row_of, minlength=h), np.bincount(col_of, minlength=w)
    y_by_row = np.bincount(row_of, weights=np.arange(size[0]), minlength=h)
    x_by_col = np.bincount(col_of, weights=np.arange(size[1]), minlength=w)
    return Layout(rows, cols, np.outer(rows, cols).ravel(), np.outer(rows, x_by_col).ravel(),
                  np.outer(y_by_row, cols).ravel(), size)


def objects(grid: np.ndarray, lay: Layout) -> list[dict]:
    """Each id of the frame: {"id", "area" (fraction of the frame), "x", "y" (its pixels' mean, in pixels)}."""
    ids, inverse = np.unique(grid, return_inverse=True)
    inverse = inverse.ravel()
    pixels = np.bincount(inverse, weights=lay.weight, minlength=ids.size)
    xs = np.bincount(inverse, weights=lay.x_sum, minlength=ids.size) / pixels
    ys = np.bincount(inverse, weights=lay.y_sum, minlength=ids.size) / pixels
    total = lay.size[0] * lay.size[1]
    return [{"id": int(i), "area": float(p) / total, "x": float(x), "y": float(y)}
            for i, p, x, y in zip(ids, pixels, xs, ys)]


@functools.cache
def _colours(bgr: bool) -> np.ndarray:
    """The overlay's colour of id i at (i % 255) + 1 of the palette (black skipped), as attnseg.engine.drawing."""
    palette = davis_palette()
    return np.ascontiguousarray(palette[:, ::-1] if bgr else palette)


def render(image: np.ndarray, grid: np.ndarray, lay: Layout, opacity: float = 0.5, following: int | None = None,
           shown: list[dict] | None = None, bgr: bool = False) -> np.ndarray:
    """The overlay of `image` (H, W, 3) uint8 (RGB, or BGR with bgr=True: the colours follow) with its grid labels:
    every object blended at `opacity`, or only the followed one; boundaries dark; ids at their centres (`shown`:
    objects(grid, lay), when already counted)."""
    import cv2

    colours = _colours(bgr)[(grid % 255) + 1]  # (h, w, 3): per cell, not per pixel
    blended = cv2.addWeighted(image, 1.0 - opacity, upsample_grid(colours, lay.size), opacity, 0.0)
    if following is None:
        out, cells = blended, grid
    else:
        out = image.copy()
        followed = upsample_grid((grid == following).view(np.uint8), lay.size)
        np.copyto(out, blended, where=followed[..., None].astype(bool))
        cells = grid == following
    edge = np.zeros(lay.size, dtype=bool)
    ends_y, ends_x = np.cumsum(lay.rows) - 1, np.cumsum(lay.cols) - 1
    edge[ends_y[:-1]] = np.repeat(cells[:-1] != cells[1:], lay.cols, axis=1)
    edge[:, ends_x[:-1]] |= np.repeat(cells[:, :-1] != cells[:, 1:], lay.rows, axis=0)
    out[edge] = 255 if following is not None else 0
    for o in shown if shown is not None else objects(grid, lay):
        if following is None or o["id"] == following:
            cv2.putText(out, str(o["id"]), (int(o["x"]) - 6, int(o["y"]) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return out
