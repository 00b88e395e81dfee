"""A stream's figures, and the one way they are written for a person.

- `StreamStats`: what a stream (or one source of several) has done: frames in, segmented, carried, dropped, its
  latencies, how it ended; `Combined`: several sources' together. `to_dict()` is the record every face writes.
- `percentiles(values)`: latencies summarized (p50, p95, p99 by default; in ms from seconds): every figure of
  attnseg and of benchmarks/ that summarizes latencies goes through it.
- `describe(stats)`: the figures in one line: the closing line of `attnseg stream` and `attnseg demo` (and of each
  source of several), the ROS 2 node's last log line; brief=True: the live line of the status bar, the window and
  the demo's video.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ...settings import EndReason


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
    busy: dict = field(default_factory=dict)  # stage -> seconds spent on it
    _adding: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def end(self, reason: EndReason, detail: str = "") -> None:
        self.end_reason, self.end_detail = reason, detail

    @property
    def ended_by(self) -> str:
        """Why the stream ended, in words: "end of source", "source stalled (no frame for 10 s)", ..."""
        if self.end_reason is EndReason.ERROR:
            return f"error in {self.end_detail}"
        return f"{self.end_reason} ({self.end_detail})" if self.end_detail else str(self.end_reason)

    def spent(self, stage: str, seconds: float) -> None:
        """`seconds` more spent on `stage` (by any thread: the maps made lazily are made where an output asks)."""
        with self._adding:
            self.busy[stage] = self.busy.get(stage, 0.0) + seconds

    def stages(self) -> dict:
        """Seconds spent per stage: this stream's (several sources: with each one's capture summed)."""
        return dict(self.busy)

    def to_dict(self) -> dict:
        """latency_ms: capture to the consumer (the iterator hands the result over); mask_latency_ms: capture
        to the result made. fps: segmented frames a second; shown_fps: segmented and carried. busy_s: seconds each
        stage worked (capture: its thread's CPU time decoding, not waiting for frames; front-end, clustering,
        upsample and carry: the wall time of their calls); busy_share: the same per second of the stream (a stage
        that works on after its source ended, as the last frames of a file, can show a little over 1)."""
        wall = (self.finished or time.monotonic()) - self.started
        stages = self.stages()
        return {"latency_ms": percentiles(self.delivered), "mask_latency_ms": percentiles(self.latencies),
                "frames_in": self.frames_in, "frames_processed": self.frames_processed,
                "frames_carried": self.frames_carried, "frames_dropped": self.frames_dropped,
                "fps": round(self.frames_processed / wall, 3) if wall else 0.0,
                "shown_fps": round((self.frames_processed + self.frames_carried) / wall, 3) if wall else 0.0,
                "reconnects": self.reconnects, "ended_by": self.ended_by, "end_reason": self.end_reason.value,
                "seconds": round(wall, 3), "busy_s": {k: round(v, 3) for k, v in stages.items()},
                "busy_share": {k: round(v / wall, 3) if wall else 0.0 for k, v in stages.items()}}


def percentiles(values: Iterable[float], points: Iterable[int] = (50, 95, 99), *, scale: float = 1e3,
                digits: int | None = 2) -> dict:
    """{"p50": ..., "p95": ..., "p99": ...} of `values` times `scale` (by default seconds as milliseconds), rounded
    to `digits` (None: not rounded); each None when there are no values."""
    a = np.asarray(list(values), dtype=np.float64) * scale
    found = {p: float(np.percentile(a, p)) if a.size else None for p in points}
    return {f"p{p}": v if v is None or digits is None else round(v, digits) for p, v in found.items()}


def describe(stats: dict, *, brief: bool = False, display: dict | None = None) -> str:
    """A stream's figures (StreamStats.to_dict(), with the session's `objects` and `written_latency_ms`) in one
    line; `display`: capture to shown on the page or in the window ({p50, p99, painted, first, last})."""
    mask = stats["mask_latency_ms"]
    ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    if brief:
        return (f"{stats['frames_processed']} segmented, {stats['frames_carried']} carried, "
                f"{stats['frames_dropped']} dropped, {stats['fps']:.1f} fps, capture to mask p50 {ms(mask['p50'])} ms "
                f"p99 {ms(mask['p99'])} ms")
    out = stats.get("written_latency_ms")
    to_outputs = f", to the outputs p50 {out['p50']} ms p99 {out['p99']} ms" if out else ""
    shown = ""
    if display and display.get("painted") and display.get("p50") is not None:  # none painted: nothing to say
        span = "" if display.get("first") is None else f" of frames {display['first']}-{display['last']}"
        rate = f", {display['fps']:.1f}/s" if display.get("fps") else ""
        shown = (f", capture to display p50 {display['p50']} ms p99 {display['p99']} ms ({display['painted']} "
                 f"painted{span}{rate})")
    objects = f", {stats['objects']} object ids" if "objects" in stats else ""
    return (f"streamed {stats['frames_processed']}/{stats['frames_in']} frames segmented ({stats['frames_carried']} "
            f"carried, {stats['frames_dropped']} dropped), {stats['fps']:.2f} fps, capture to mask p50 {mask['p50']} "
            f"ms p99 {mask['p99']} ms{to_outputs}{shown}{objects}; ended: {stats['ended_by']}")


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

    def stages(self) -> dict:
        """The shared stages' seconds, and every source's capture summed."""
        out = dict(self.busy)
        for part in self.parts:
            for stage, seconds in part.busy.items():
                out[stage] = out.get(stage, 0.0) + seconds
        return out

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
