"""One session, every face: SessionSettings in; the Segmenter, the streaming runtime and the outputs built from
them; results fanned out; the figures back, and one closing line.

    session = Session(SessionSettings(...))              # nothing loads yet: the checks come first
    report = session.stream(["0"], [Outputs(out="masks/")], progress=True)   # live, until the end, Ctrl-C or a failure
    print("\\n".join(report.lines())); report.raise_failure()
    stats = session.segment("clip.mp4", Outputs(labels="l.npy"))          # offline, any length, resumable
    for record in session.batch(["a.mp4", "b/"], "out/"): ...              # many videos, one folder each

`attnseg segment`, `stream`, `batch` and `demo`, the ROS 2 node (attnseg.integrations.ros_bridge) and the Ray
actors (attnseg.integrations.ray_batch) are its faces: each turns its own inputs (flags, ROS parameters) into
SessionSettings and Outputs, and keeps only what is its own (argument parsing, ROS messages, the page). The order
of a run is the same for all: outputs and sources checked (one line for the first that cannot be used), then the
weights loaded (`segmenter`, built once), then the outputs opened, then the frames. What was computed is kept:
every output is published, and the stats written, also after a failure or Ctrl-C.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import NothingToWrite, SourceDisconnected, StreamError
from ..files import write_json
from ..settings import AUTO_MEASURE_FRAMES, DEFAULT_FPS, EndReason, SessionSettings
from .frames import FrameReader
from .live.runtime import Source, StreamRuntime
from .live.sources import check_sources
from .live.stats import describe, percentiles
from .offline.batch import process_video, run_batch
from .offline.runs import check_writable, completed, segment_to_files
from .outputs.fanout import Outputs, Sinks
from .segmenter import Segmenter

KEPT = "the outputs hold every frame streamed"  # what a stream ended by Ctrl-C or a lost camera still wrote
STAGES = ("decode", "preprocess", "backbone", "affinity", "clustering", "linking", "output")


@dataclass
class StreamReport:
    """How a streamed session went: `stats` (StreamStats.to_dict() with written_latency_ms, objects, backend and
    mode; each source's under "sources"), the failure it ended with, and the sources lost on the way."""

    stats: dict
    failure: BaseException | None = None  # a StreamError, or KeyboardInterrupt (Ctrl-C)
    lost: list[str] = field(default_factory=list)  # "source 2 lost: ..." for each live source that went away

    @property
    def stopped(self) -> bool:
        """Ended by its consumer (Ctrl-C, a window closed), not by its sources."""
        return self.stats["end_reason"] == EndReason.STOPPED.value

    def lines(self, display: dict | None = None) -> list[str]:
        """The closing line, then one per source of several (`display`: capture to shown, from a page or window)."""
        return [closing_line(self.stats, display)] + [f"  source {n} ({part['name']}): " + closing_line(part)
                                                       for n, part in enumerate(self.stats.get("sources", []), 1)]

    def raise_failure(self) -> None:
        """The failure the stream ended with; else SourceDisconnected when a live source was lost; else nothing."""
        if self.failure is not None:
            raise self.failure
        if self.lost:
            raise SourceDisconnected("; ".join(self.lost) + f"; {KEPT}")


class Session:
    """A session's settings and what is built from them, once: the Segmenter (on first use) and the runtime."""

    def __init__(self, settings: SessionSettings = SessionSettings(), *, segmenter: Segmenter | None = None):
        self.settings = settings
        self.steps: Callable[[str], None] = lambda step: None  # hears each step of loading (a page shows them)
        self.measure = True  # backend auto may measure (not for a short clip: Session.segment)
        if segmenter is not None:
            self.__dict__["segmenter"] = segmenter

    @functools.cached_property
    def segmenter(self) -> Segmenter:
        """The front-end and clustering of these settings, loaded on first use (after the checks)."""
        return Segmenter.from_settings(self.settings, self.steps, measure=self.measure)

    @functools.cached_property
    def runtime(self) -> StreamRuntime:
        """The streaming runtime on this segmenter; `runtime.stats` are the figures of the stream under way."""
        return StreamRuntime(self.segmenter, self.settings.stream)

    # -- offline: a file, or many ---------------------------------------------------------------------------------

    def segment(self, source, outputs: Outputs, *, stats_json: str | None = None, chunk_log: str | None = None,
                resume: bool = False, progress: bool = False) -> dict | None:
        """Segment `source` (a video file or a folder of frames) into `outputs` (attnseg.engine.offline.runs); its
        flat stats, or None when `resume` finds the run completed already."""
        reader = FrameReader(source)  # first: a missing or unopenable input fails before any weights load
        if not (outputs.paths() or stats_json or chunk_log):
            raise NothingToWrite("nothing would be written: name an output")
        if resume and completed(outputs):
            return None
        check_writable(outputs, resume, also=[stats_json] if stats_json else [])  # before the weights load
        if "segmenter" not in self.__dict__ and 0 < (reader.info.count or 0) < AUTO_MEASURE_FRAMES:
            self.measure = False  # a short clip: auto measures nothing now (attnseg.settings.AUTO_MEASURE_FRAMES)
        segmenter = self.segmenter
        print(segmenter.mode_line, file=sys.stderr)
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(open(chunk_log, "a")) if chunk_log else None
            on_chunk = (lambda record: print(json.dumps(record), file=log, flush=True)) if log else None
            return segment_to_files(segmenter, reader, outputs, resume=resume, progress=progress,
                                    on_chunk=on_chunk,
                                    on_end=(lambda s: write_json(stats_json, s)) if stats_json else None)

    def batch(self, videos: Sequence[str | Path], out: str | Path) -> Iterator[dict]:
        """Many videos in this process, one finished folder each under `out` (attnseg.engine.offline.batch)."""
        return run_batch(lambda: self.segmenter, videos, out)  # loaded at the first video not finished before

    def process(self, video: str, dest: str | Path) -> dict:
        """One video of a batch into `dest` (a Ray actor's call): its record."""
        return process_video(self.segmenter, video, dest)

    # -- live: cameras, files, URLs, pushed frames ----------------------------------------------------------------

    def stream(self, sources: Sequence[Source], outputs: Sequence[Outputs] = (), *, shared: Outputs | None = None,
               stats_json: str | None = None, progress: bool = False, announce: bool = False,
               figures_every: float | None = None, stop: Callable[[], bool] | None = None) -> StreamReport:
        """Stream `sources` (several: one model, each source its own ids) until they end, `stop()` says so, Ctrl-C
        or a failure. Each result goes to its source's `outputs` (one Outputs a source, or none) and to `shared`
        (what every source writes into: one COCO file, ZeroMQ, the live page: its `extra` sinks open after the
        weights load, so they may read `segmenter`). `figures_every`: seconds between the runtime's figures handed
        to the outputs with a frame (the page shows them); `progress`: a status line on a terminal's stderr;
        `announce`: the front-end's mode on stderr once a source delivers; `stats_json`: the report's stats, written
        also after a failure."""
        sources, own = list(sources), list(outputs)
        shared = shared or Outputs()
        for o in (*own, shared):  # before the weights load: an existing file, a device, a folder of PNGs
            check_writable(o, also=[stats_json] if stats_json and o is shared else [])
        check_sources([s for s in sources if isinstance(s, (str, int))])  # a bad source: its one line, first
        runtime = self.runtime
        sinks = _open([shared, *own])  # a busy address or an existing bag fails here, before any file is made
        everyone, mine = sinks[0], sinks[1:]
        many = len(sources) > 1
        ids: list[set[int]] = [set() for _ in sources]
        written: list[float] = []  # seconds from capture to written by every output (the last 10000)
        wall_offset = time.time_ns() - time.monotonic_ns()  # capture times are monotonic; messages carry wall time
        failure, figures, counted = None, None, 0.0
        status = Status() if progress and interactive() else None
        # a display of the newest frame (the live page) takes each frame of one source as soon as it is read
        newest = [s for s in everyone.sinks if s.newest] if not many else []

        def preview(r):  # on the capture thread; `figures`: the latest the loop below took
            frame = r.output_frame(wall_offset, figures)
            for sink in newest:
                sink.write(frame)

        results = runtime.stream(sources if many else sources[0], self.settings.runtime,
                                 preview=preview if newest else None)
        try:
            for r in results:
                if announce:  # once a source delivers: a bad source ends in its one error line
                    print(self.segmenter.mode_line, file=sys.stderr)
                    announce = False
                if figures_every is not None and r.delivered - counted > figures_every:  # not every frame:
                    figures, counted = runtime.stats.to_dict(), r.delivered  # percentiles of 10000 latencies
                frame = r.output_frame(wall_offset, figures)
                start = time.perf_counter()
                if mine:
                    mine[r.source].write(frame)
                everyone.write(frame)
                runtime.stats.spent("outputs", time.perf_counter() - start)
                written.append(time.monotonic() - r.timestamp)  # capture to written: where this session delivers
                del written[:-10000]
                if not r.carried:  # a carried frame's ids are its segmented frame's: counted there, no flow made
                    ids[r.source].update(frame.present.tolist())
                if status:
                    status.show(runtime.stats)
                if stop is not None and stop():
                    break
        except StreamError as err:
            failure = err
        except KeyboardInterrupt:  # Ctrl-C: how a camera's stream ends; the closing line still comes
            failure = KeyboardInterrupt(KEPT)
        finally:  # what was computed is kept: labels, video, bag and stats are written even after a failure
            results.close()
            if status:
                status.close()
            Sinks(sinks).close()
            stats = {**runtime.stats.to_dict(), "written_latency_ms": percentiles(written),
                     "objects": sum(len(i) for i in ids), "backend": self.segmenter.backend,
                     "mode": self.segmenter.mode}
            for part, found in zip(stats.get("sources", []), ids):
                part["objects"] = len(found)
            if stats_json:
                write_json(stats_json, stats)
        lost = [(f"source {n} " if many else "") + f"lost: {part.end_detail}"
                for n, part in enumerate(runtime.source_stats, start=1) if part.end_reason is EndReason.DISCONNECTED]
        return StreamReport(stats, failure, lost)


def _open(outputs: Sequence[Outputs]) -> list[Sinks]:
    """Each Outputs opened, in order; on a failure the ones already open are closed and the error raised."""
    opened: list[Sinks] = []
    try:
        for o in outputs:
            opened.append(o.open(fps=DEFAULT_FPS))
    except BaseException:
        Sinks(opened).close()
        raise
    return opened


def closing_line(stats: dict, display: dict | None = None) -> str:
    """The last line of every session: a stream's (attnseg.engine.live.stats.describe) or a segmented file's."""
    if "frames_in" in stats:
        return describe(stats, display=display)
    stages = " ".join(f"{k} {stats[k]:.2f}s" for k in STAGES if k in stats)
    pieces = "one piece" if stats["chunks"] <= 1 and not stats["resumed_at"] else \
        f"chunks of {stats['chunk_frames']} frames"
    ids = f"{stats['ids']} object id" + ("" if stats["ids"] == 1 else "s")
    return (f"segmented {stats['frames']} frames ({pieces}) -> {ids}, {stats['mode']}: {stages} | "
            f"total {stats['total']:.2f}s, peak memory {stats['peak_rss_mb']:.0f} MB")


def interactive() -> bool:
    """A person watches stderr (a terminal): progress is drawn there."""
    return sys.stderr.isatty()


class Status:
    """One line on stderr, redrawn at most every EVERY seconds: what the stream has done so far."""

    EVERY = 0.5

    def __init__(self):
        self.shown = 0.0

    def show(self, stats) -> None:
        now = time.monotonic()
        if now - self.shown < self.EVERY:
            return
        self.shown = now
        print(f"\r{'stream: ' + describe(stats.to_dict(), brief=True)}\033[K", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
