"""Several sources shown as one: the latest frame of each source side by side, one tile per source.

    tiles = Tiles(sources=3, write=server.write)    # the page, the window or the overlay video
    tiles.write(frame)                              # each OutputFrame of the stream, whatever its source

Each write shows the newest frame of every source (a source that has ended keeps its last frame), as one
OutputFrame: the tiles in rows of up to TILES_PER_ROW, each tile the first frame's size rounded to whole patch
cells, so that the tiled patch labels upsample to the tiled map exactly. Ids stay apart: source n's ids
are shown as n * ID_STRIDE + id (source 0's unchanged, source 1's object 7 is 1007). Nothing is shown until every
source has sent a frame.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..engine.masks import upsample_grid
from ..engine.outputs.fanout import OutputFrame

ID_STRIDE = 1000  # source n's ids are shown from n * ID_STRIDE
TILES_PER_ROW = 2


class Tiles:
    def __init__(self, sources: int, write: Callable[[OutputFrame], None], close: Callable[[], None] = lambda: None):
        self.latest: list[OutputFrame | None] = [None] * sources
        self.target, self.close = write, close
        self.shown = 0
        self.tile: tuple[int, int] | None = None  # (H, W) of a tile: whole cells of the patch grid

    def write(self, frame: OutputFrame) -> None:
        self.latest[frame.source] = frame
        if any(f is None for f in self.latest):
            return
        self.target(self.compose(frame))
        self.shown += 1

    def compose(self, newest: OutputFrame) -> OutputFrame:
        """The tiled frame; its capture time, figures and carried flag are the newest frame's."""
        import cv2

        frames = self.latest
        gh, gw = frames[0].labels.shape
        if self.tile is None:
            height, width = frames[0].mask.shape
            self.tile = (gh * max(1, round(height / gh)), gw * max(1, round(width / gw)))
        th, tw = self.tile
        cols = min(TILES_PER_ROW, len(frames))
        rows = math.ceil(len(frames) / cols)
        image = np.zeros((rows * th, cols * tw, 3), dtype=np.uint8)
        grid = np.zeros((rows * gh, cols * gw), dtype=np.int32)
        for n, f in enumerate(frames):
            r, c = divmod(n, cols)
            labels = f.labels if f.labels.shape == (gh, gw) else \
                cv2.resize(f.labels, (gw, gh), interpolation=cv2.INTER_NEAREST)
            grid[r * gh:(r + 1) * gh, c * gw:(c + 1) * gw] = labels + n * ID_STRIDE
            if f.image is not None:
                image[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = cv2.resize(f.image, (tw, th),
                                                                            interpolation=cv2.INTER_AREA)
        mask = upsample_grid(grid, image.shape[:2])
        return OutputFrame(self.shown, f"{self.shown:05d}", grid, mask, newest.stamp_ns, image, newest.latency,
                           newest.stats, captured=newest.captured, carried=newest.carried, grid=grid)
