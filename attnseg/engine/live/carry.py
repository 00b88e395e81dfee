"""Labels carried by motion: a frame the engine could not take gets the last segmented labels, moved to it.

    carrier = Carrier()
    carrier.segmented(image, labels)          # each segmented frame: (H, W, 3) uint8 RGB, (H, W) int32 ids
    coarse, labels = carrier.carry(image)     # a later frame: its labels, or None before the first segmented

Optical flow (OpenCV's DIS, ultrafast preset) runs on small grey images (CARRY_WIDTH pixels wide) from the
new frame to the last segmented one, so every small pixel knows where it came from; it takes the label found
there (every CARRY_STRIDE-th of them). The result is that small map (`coarse`) and its nearest-neighbour upsampling to the frame's size
(`labels`), the same relation a segmented frame's patch labels have to its label map. Carried labels are an
estimate, never a segmentation: the streaming runtime flags them (StreamResult.carried). What carrying costs in
accuracy: benchmarks/live_quality.py (ground-truth masks carried 1-4 frames on the DAVIS clips; record
benchmarks/results/live_quality_cpu_vit_small_16_160x240.json).
"""
from __future__ import annotations

import numpy as np

from ..masks import upsample_grid

CARRY_WIDTH = 240  # pixels across the grey images the flow is computed on
CARRY_STRIDE = 2  # the carried map takes every 2nd of their pixels (blocks of ~7 frame pixels at 854 wide): a
# finer grid than a segmented frame's patches, and light for the page (attnseg.engine.outputs.drawing)


class Carrier:
    def __init__(self, width: int = CARRY_WIDTH):
        import cv2

        self.width = width
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.grey: np.ndarray | None = None  # the last segmented frame, small and grey
        self.labels: np.ndarray | None = None  # its labels at full size

    def small_grey(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        size = (min(self.width, w), max(1, round(h * min(self.width, w) / w)))
        return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)

    def segmented(self, image: np.ndarray, labels: np.ndarray) -> None:
        """The newest segmented frame: what later frames are carried from."""
        self.grey, self.labels = self.small_grey(image), labels

    def carry(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(coarse (h, w), labels (H, W)) int32 for `image`, moved from the last segmented frame; None before
        one was segmented, or when the frame's size changed."""
        if self.grey is None or image.shape[:2] != self.labels.shape:
            return None
        grey = self.small_grey(image)
        flow = self.flow.calc(grey, self.grey, None)  # new -> segmented: where each small pixel came from
        h, w = grey.shape
        big_h, big_w = self.labels.shape
        ys, xs = np.mgrid[0:h:CARRY_STRIDE, 0:w:CARRY_STRIDE].astype(np.float32)
        flow = flow[::CARRY_STRIDE, ::CARRY_STRIDE]
        # the small pixel's centre, moved, in the full-size map's pixels
        src_y = np.clip(((ys + flow[..., 1] + 0.5) * (big_h / h)).astype(np.int64), 0, big_h - 1)
        src_x = np.clip(((xs + flow[..., 0] + 0.5) * (big_w / w)).astype(np.int64), 0, big_w - 1)
        coarse = np.ascontiguousarray(self.labels[src_y, src_x], dtype=np.int32)
        return coarse, upsample_grid(coarse, (big_h, big_w))
