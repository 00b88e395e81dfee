"""What a stream hands out: each frame's StreamResult, and the stream's figures (StreamStats; Combined for several
sources), latencies summarized as percentiles. The runtime that makes them: attnseg.engine.streaming."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..settings import EndReason
from .outputs import OutputFrame


@dataclass
class StreamResult:
    frame_id: int
    timestamp: float  # capture time (time.monotonic())
    labels: np.ndarray  # (H0, W0) int32 track ids at the frame's size
    patch_labels: np.ndarray  # (h, w) int32 track ids per patch
    latency: float  # seconds from capture to this result being made (the engine's latency)
    image: np.ndarray  # (H0, W0, 3) uint8 RGB, the frame itself
    tag: Any = None  # the source's reference for this frame (PushSource: what the host pushed with it)
    carried: bool = False  # labels carried by optical flow from the last segmented frame, not segmented
    coarse: np.ndarray | None = None  # carried: the small map `labels` is the nearest upsampling of
    delivered: float | None = None  # time.monotonic() when the iterator handed it to its consumer
    name: str = ""  # the input's name for the frame (a folder's file stem), else "": outputs use its id
    source: int = 0  # which of the stream's sources it came from (several cameras: their order), else 0

    @property
    def grid_labels(self) -> np.ndarray:
        """The coarsest map whose nearest-neighbour upsampling is `labels`: the patch labels of a segmented frame,
        the flow-sized map of a carried one (a display counts areas on it: attnseg.view.render)."""
        return self.patch_labels if self.coarse is None else self.coarse

    def objects(self) -> dict[int, np.ndarray]:
        """Per-object boolean masks at frame size, by track id."""
        return {int(i): self.labels == i for i in np.unique(self.labels)}

    def output_frame(self, wall_offset_ns: int, stats: dict | None = None) -> OutputFrame:
        """This result as the outputs take it (attnseg.engine.outputs): named as `attnseg segment` names it (the
        input's file stem, else its index in five digits), stamped with its capture time on the wall clock
        (time.time_ns() - time.monotonic_ns() at the stream's start)."""
        return OutputFrame(self.frame_id, self.name or f"{self.frame_id:05d}", self.patch_labels, self.labels,
                           wall_offset_ns + round(self.timestamp * 1e9), self.image, self.latency, stats,
                           captured=self.timestamp, carried=self.carried, grid=self.grid_labels, source=self.source)


@dataclass
class StreamStats:
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0  # neither segmented nor carried
    frames_carried: int = 0
    reconnects: int = 0
    end_reason: EndReason = EndReason.RUNNING
    end_detail: str = ""  # the disconnect's error, the stall's length, the failed stage
    latencies: list = field(default_factory=list)  # seconds, capture to result made (the last 10000)
    delivered: list = field(default_factory=list)  # seconds, capture to the consumer (the last 10000)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def end(self, reason: EndReason, detail: str = "") -> None:
        self.end_reason, self.end_detail = reason, detail

    @property
    def ended_by(self) -> str:
        """Why the stream ended, in words: "end of source", "source stalled (no frame for 10 s)", ..."""
        if self.end_reason is EndReason.ERROR:
            return f"error in {self.end_detail}"
        return f"{self.end_reason} ({self.end_detail})" if self.end_detail else str(self.end_reason)

    def to_dict(self) -> dict:
        """latency_ms: capture to the consumer (the iterator hands the result over); engine_latency_ms: capture
        to the result made. fps: segmented frames a second; shown_fps: segmented and carried."""
        wall = (self.finished or time.monotonic()) - self.started
        return {"latency_ms": percentiles(self.delivered), "engine_latency_ms": percentiles(self.latencies),
                "frames_in": self.frames_in, "frames_processed": self.frames_processed,
                "frames_carried": self.frames_carried, "frames_dropped": self.frames_dropped,
                "fps": round(self.frames_processed / wall, 3) if wall else 0.0,
                "shown_fps": round((self.frames_processed + self.frames_carried) / wall, 3) if wall else 0.0,
                "reconnects": self.reconnects, "ended_by": self.ended_by, "end_reason": self.end_reason.value,
                "seconds": round(wall, 3)}


def percentiles(seconds: list) -> dict:
    """p50, p95, p99 of latencies in seconds, as milliseconds (None when there are none)."""
    ms = np.asarray(seconds) * 1e3
    return {f"p{p}": round(float(np.percentile(ms, p)), 2) if ms.size else None for p in (50, 95, 99)}


class Combined(StreamStats):
    """The figures of several sources together (`StreamRuntime.stats` of a stream of several): counts summed,
    latencies pooled, read from each source's own StreamStats as they go on; the stream ends with the last."""

    def __init__(self, parts: list[StreamStats], names: list[str]):
        self.parts, self.names = parts, names
        super().__init__()

    @property
    def ended_by(self) -> str:
        if self.end_reason is EndReason.ERROR or self.end_reason is EndReason.STOPPED:
            return super().ended_by
        return "; ".join(f"{name}: {p.ended_by}" for name, p in zip(self.names, self.parts))

    def to_dict(self) -> dict:
        """The sums (StreamStats.to_dict), and each source's own figures under "sources"."""
        return {**super().to_dict(), "sources": [{"name": name, **p.to_dict()} for name, p in
                                                 zip(self.names, self.parts)]}


def _summed(name: str, pooled: bool) -> property:
    """A figure of Combined read from its parts: a count summed, or a list of latencies pooled (set: ignored)."""
    def get(self):
        values = [getattr(p, name) for p in self.parts]
        return [x for v in values for x in v] if pooled else sum(values)
    return property(get, lambda self, value: None)


for _name in ("frames_in", "frames_processed", "frames_dropped", "frames_carried", "reconnects"):
    setattr(Combined, _name, _summed(_name, pooled=False))
for _name in ("latencies", "delivered"):
    setattr(Combined, _name, _summed(_name, pooled=True))
