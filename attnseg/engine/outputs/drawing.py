"""Drawing label maps for a person: the DAVIS palette, and the one overlay drawer of every output that shows a frame.

A label map at the frame's size is the nearest-neighbour upsampling of a small grid (a segmented frame's patch
labels, a carried frame's flow-sized map: StreamResult.grid_labels; a full-size map is its own grid), so every grid
cell covers a known block of pixels. `Layout` holds those blocks for one (grid, frame) size pair, built once; from
it:
- `objects(grid, layout)`: each id's area (its pixels / the frame's, exact) and centre (the mean of its pixels'
  coordinates, exact), from a weighted count over the grid's cells, never over the frame's pixels;
- `render(image, grid, layout, opacity, following, ids)`: the overlay in uint8: each pixel
  floor((image * (256 - w) + colour * w) / 256) with w = round(256 * opacity) (at 0.5: the mean of the two,
  rounded down), the colour its id's in the palette (black skipped, so every id shows); the label boundaries
  (where a pixel's neighbour below or to the right has another id) dark, or light around a followed object; and,
  with `ids`, each id written at its centre.

The overlay video (`--overlay`), the rosbag2's and the ROS 2 node's overlay topic (`overlay(image, grid)`), the
live page, the window and the demo's video (attnseg.view) all draw with it. benchmarks/page_work.py times it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..masks import nearest_cells, upsample_grid


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
    """The overlay's colour of id i at (i % 255) + 1 of the palette (black skipped): colour_of, as an array."""
    palette = davis_palette()
    return np.ascontiguousarray(palette[:, ::-1] if bgr else palette)


def render(image: np.ndarray, grid: np.ndarray, lay: Layout, opacity: float = 0.5, following: int | None = None,
           shown: list[dict] | None = None, bgr: bool = False, ids: bool = True) -> np.ndarray:
    """The overlay of `image` (H, W, 3) uint8 (RGB, or BGR with bgr=True: the colours follow) with its grid labels:
    every object blended at `opacity`, or only the followed one; boundaries dark; with `ids`, each id at its centre
    (`shown`: objects(grid, lay), when already counted)."""
    import cv2

    colours = _colours(bgr)[(grid % 255) + 1]  # (h, w, 3): per cell, not per pixel
    blended = blend(image, upsample_grid(colours, lay.size), opacity)
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
    if not ids:
        return out
    for o in shown if shown is not None else objects(grid, lay):
        if following is None or o["id"] == following:
            cv2.putText(out, str(o["id"]), (int(o["x"]) - 6, int(o["y"]) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return out


def blend(image: np.ndarray, colours: np.ndarray, opacity: float) -> np.ndarray:
    """floor((image * (256 - w) + colours * w) / 256), w = round(256 * opacity), in uint8."""
    w = round(256 * opacity)
    if w == 128:  # the default: the mean, rounded down, in one pass
        return ((image.astype(np.uint16) + colours) >> 1).astype(np.uint8)
    out = image.astype(np.uint16)
    out *= 256 - w
    out += colours.astype(np.uint16) * w
    out >>= 8
    return out.astype(np.uint8)


def overlay(image: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The overlay of a file or a topic (`--overlay`, rosbag2, the ROS 2 node): every object at half opacity,
    boundaries dark, no ids; `grid`: the frame's labels or the small map they upsample (OutputFrame.grid)."""
    return render(image, grid, layout(grid.shape, image.shape[:2]), ids=False)
