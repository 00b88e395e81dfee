"""Drawing a stream's results for a person: the page's view and the window's, with the same figures.

- `readout(stats, info)`: the figures as one line (attnseg.engine.live.stats.describe, brief), the mode and the
  weights.
- `annotate(image, labels, line)`: the overlay, each object's id at its centre and the readout line: the window's
  view, and the demo's --video.
- `draw(image, labels, opacity, following)`: the page's view, every object or only the followed one.
- `Window`: the annotated overlay in an OpenCV window, an output of the fan-out (attnseg.engine.outputs.fanout).
- `gui_available()`: whether a window can open here.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..engine.live.stats import describe, percentiles
from ..engine.outputs.drawing import layout, render


def readout(stats: dict, info: dict) -> str:
    """The figures of the page as one line: segmented, carried, dropped, fps, capture-to-mask p50/p99 (none before
    the first count), then the mode and the weights."""
    weights = "RANDOM WEIGHTS" if info.get("random_weights") else info.get("weights", "")
    figures = describe(stats, brief=True) + " | " if stats else ""
    return f"{figures}{info.get('mode', '')} | {weights}"


def annotate(image: np.ndarray, labels: np.ndarray, line: str, grid: np.ndarray | None = None) -> np.ndarray:
    """The overlay, each object's id at its centre and the readout line (`grid`: the small map `labels` is the
    nearest upsampling of, e.g. the patch labels: the work is done on it, attnseg.engine.outputs.drawing)."""
    import cv2

    out = draw(image, labels, 0.5, None, grid)
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(out, line, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw(image: np.ndarray, labels: np.ndarray, opacity: float, following: int | None,
         grid: np.ndarray | None = None) -> np.ndarray:
    """The page's view: every object blended at `opacity`, or only the followed one (outlined)."""
    grid = labels if grid is None else grid
    return render(image, grid, layout(grid.shape, labels.shape), opacity, following)


class Window:
    """The annotated overlay in an OpenCV window, frame by frame; `quit` once q was pressed there."""

    def __init__(self, info: dict):
        self.info, self.quit = info, False
        self.painted: list[float] = []  # seconds from capture to shown in the window (the last 10000)

    def write(self, frame) -> None:
        """An OutputFrame of a stream: its image and label map, with the runtime's figures in a line."""
        import cv2

        shown = annotate(frame.image, frame.mask, readout(frame.stats or {}, self.info),
                         frame.grid)
        cv2.imshow("attnseg", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
        self.quit = cv2.waitKey(1) & 0xFF == ord("q")  # the window is drawn here
        if frame.captured is not None:
            self.painted.append(time.monotonic() - frame.captured)
            del self.painted[:-10000]

    def display_stats(self) -> dict:
        """Capture to shown in the window: p50, p95, p99 (ms) and the frames shown."""
        return {**percentiles(self.painted), "painted": len(self.painted)}

    def close(self) -> None:
        pass


def gui_available() -> bool:
    """A display to draw on and an OpenCV built with a GUI backend."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow("attnseg-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("attnseg-probe")
        return True
    except cv2.error:
        return False
