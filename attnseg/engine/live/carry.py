"""Labels carried by motion: a frame the engine could not take gets the last segmented labels, moved to it.

    carrier = Carrier()
    carrier.segmented(image, patch)           # each segmented frame: (H, W, 3) uint8 RGB, (h, w) int32 patch ids
    maps = carrier.later(image)               # a later frame: its Maps, made when first used (None before one
    maps.mask, maps.labels, maps.grid         # was segmented)

Optical flow (OpenCV's DIS, ultrafast preset) runs on small grey images (CARRY_WIDTH pixels wide) from the
new frame to the last segmented one, so every small pixel knows where it came from; it takes the label found
there (every CARRY_STRIDE-th of them). The result is that small map (`coarse`) and its nearest-neighbour upsampling to the frame's size
(`labels`), the same relation a segmented frame's patch labels have to its label map. Carried labels are an
estimate, never a segmentation: the streaming runtime flags them (StreamResult.carried). What carrying costs in
accuracy: benchmarks/live_quality.py (ground-truth masks carried 1-4 frames on the DAVIS clips; record
benchmarks/results/live_quality_cpu_vit_small_16_160x240.json).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from ..masks import Maps, nearest_cells, sample_grid, upsample_grid

CARRY_WIDTH = 240  # pixels across the grey images the flow is computed on
CARRY_STRIDE = 2  # the carried map takes every 2nd of their pixels (blocks of ~7 frame pixels at 854 wide): a
# finer grid than a segmented frame's patches, and light for the page (attnseg.engine.outputs.drawing)


class Carrier:
    def __init__(self, width: int = CARRY_WIDTH):
        import cv2

        self.width = width
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._flowing = threading.Lock()  # one flow at a time: carried maps are made in whichever thread asks
        # the last segmented frame: (small grey image, patch labels, size (H, W)), replaced as one (threads read it)
        self.last: tuple[np.ndarray, np.ndarray, tuple[int, int]] | None = None

    def small_grey(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        size = (min(self.width, w), max(1, round(h * min(self.width, w) / w)))
        return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)

    def segmented(self, image: np.ndarray, patch: np.ndarray) -> None:
        """The newest segmented frame, with its patch labels: what later frames are carried from."""
        self.last = (self.small_grey(image), patch, image.shape[:2])

    def later(self, image: np.ndarray, spent: Callable[[float], None] = lambda s: None, *,
              newest: bool = False) -> Maps | None:
        """`image`'s maps, moved from the last segmented frame when first asked for (Maps: a frame no output takes
        costs no flow): labels sampled at the patch centres, the full-size mask, and the small flow-sized map
        (`grid`) the mask is the nearest upsampling of. None before a frame was segmented, or when the frame's
        size changed. The frame carried from: the last segmented one now, or with `newest` the last one when the
        maps are made (a display's newest frame gets the newest labels there are by the time it is drawn).
        `spent(seconds)`: told what making them took."""
        last = self.last
        if last is None or image.shape[:2] != last[2]:
            return None

        def make():
            start = time.perf_counter()
            now = self.last
            grey, patch, size = now if newest and now[2] == last[2] else last
            coarse = self._move(image, grey, patch, size)
            mask = upsample_grid(coarse, size)
            spent(time.perf_counter() - start)
            return sample_grid(mask, patch.shape), mask, coarse

        return Maps(make=make)

    def carry(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(coarse (h, w), labels (H, W)) int32 for `image`, moved from the last segmented frame now; None as
        later() says."""
        maps = self.later(image)
        return None if maps is None else (maps.grid, maps.mask)

    def _move(self, image: np.ndarray, grey: np.ndarray, patch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The flow-sized map of `image`: each of its small pixels takes the label where it came from."""
        small = self.small_grey(image)
        with self._flowing:
            flow = self.flow.calc(small, grey, None)  # new -> segmented: where each small pixel came from
        h, w = small.shape
        big_h, big_w = size
        ys, xs = np.mgrid[0:h:CARRY_STRIDE, 0:w:CARRY_STRIDE].astype(np.float32)
        flow = flow[::CARRY_STRIDE, ::CARRY_STRIDE]
        # the small pixel's centre, moved, in the full-size map's pixels, read off the patch labels
        src_y = np.clip(((ys + flow[..., 1] + 0.5) * (big_h / h)).astype(np.int64), 0, big_h - 1)
        src_x = np.clip(((xs + flow[..., 0] + 0.5) * (big_w / w)).astype(np.int64), 0, big_w - 1)
        rows, cols, _ = nearest_cells(patch.shape, size)  # the full-size mask's pixel -> its patch
        return np.ascontiguousarray(patch[rows[src_y], cols[src_x]], dtype=np.int32)
