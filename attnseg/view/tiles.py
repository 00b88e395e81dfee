"""Several sources shown as one: the latest frame of each source side by side, one tile per source.

    tiles = Tiles(sources=3, write=server.write)    # the page, the window or the overlay video
    tiles.write(frame)                              # each OutputFrame of the stream, whatever its source

Each write shows the newest frame of every source (a source that has ended keeps its last frame), as one
OutputFrame: the tiles in rows of up to TILES_PER_ROW, each tile the first frame's size rounded to whole patch
cells, so that the tiled patch labels upsample to the tiled map exactly. Ids stay apart whatever their count: of S
sources, source n's object k is shown as k * S + n (`tiled_id`), and named "n:k" (`tiled_name`; the page lists it
so). Nothing is shown until every source has sent a frame.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..engine.masks import upsample_grid
from ..engine.outputs.fanout import OutputFrame

TILES_PER_ROW = 2


def tiled_id(source: int, object_id, sources: int):
    """The id source `source`'s object shows as among `sources`: interleaved, so no count of ids overlaps."""
    return object_id * sources + source


def tiled_name(shown_id: int, sources: int) -> str:
    """A shown id as its source and object: "1:7" (source 1's object 7); a single source's id alone."""
    if sources <= 1:
        return str(shown_id)
    object_id, source = divmod(shown_id, sources)
    return f"{source}:{object_id}"


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
            grid[r * gh:(r + 1) * gh, c * gw:(c + 1) * gw] = tiled_id(n, labels.astype(np.int32), len(frames))
            if f.image is not None:
                image[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = cv2.resize(f.image, (tw, th),
                                                                            interpolation=cv2.INTER_AREA)
        mask = upsample_grid(grid, image.shape[:2])
        return OutputFrame(self.shown, f"{self.shown:05d}", grid, mask, newest.stamp_ns, image, newest.latency,
                           newest.stats, captured=newest.captured, carried=newest.carried, grid=grid)
