"""What a stream hands out for each frame: its StreamResult. The runtime that makes them: attnseg.engine.live.runtime;
the stream's figures: attnseg.engine.live.stats."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..masks import Maps, OnMaps
from ..outputs.fanout import OutputFrame


@dataclass
class StreamResult(OnMaps):
    frame_id: int
    timestamp: float  # capture time (time.monotonic())
    maps: Maps  # its label maps, made when first used: `mask`, `labels`, `grid` (OnMaps)
    latency: float  # seconds from capture to this result being made (the engine's latency)
    image: np.ndarray  # (H0, W0, 3) uint8 RGB, the frame itself
    tag: Any = None  # the source's reference for this frame (PushSource: what the host pushed with it)
    carried: bool = False  # labels carried by optical flow from the last segmented frame, not segmented
    delivered: float | None = None  # time.monotonic() when the iterator handed it to its consumer
    name: str = ""  # the input's name for the frame (a folder's file stem), else "": outputs use its id
    source: int = 0  # which of the stream's sources it came from (several cameras: their order), else 0

    @property
    def grid_labels(self) -> np.ndarray:
        """`grid` (OnMaps): the patch labels of a segmented frame, the flow-sized map of a carried one (a display
        counts areas on it: attnseg.engine.outputs.drawing)."""
        return self.maps.grid

    @property
    def coarse(self) -> np.ndarray | None:
        """Carried: the flow-sized map `mask` is the nearest upsampling of; else None."""
        return self.maps.grid if self.carried else None

    def objects(self) -> dict[int, np.ndarray]:
        """Per-object boolean masks at frame size, by track id."""
        return {int(i): self.mask == i for i in np.unique(self.mask)}

    def output_frame(self, wall_offset_ns: int, stats: dict | None = None) -> OutputFrame:
        """This result as the outputs take it (attnseg.engine.outputs.fanout): named as `attnseg segment` names it (the
        input's file stem, else its index in five digits), stamped with its capture time on the wall clock
        (time.time_ns() - time.monotonic_ns() at the stream's start)."""
        return OutputFrame(self.frame_id, self.name or f"{self.frame_id:05d}", stamp_ns=wall_offset_ns
                           + round(self.timestamp * 1e9), image=self.image, latency=self.latency, stats=stats,
                           captured=self.timestamp, carried=self.carried, source=self.source, tag=self.tag,
                           maps=self.maps)
