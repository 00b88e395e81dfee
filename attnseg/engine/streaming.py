"""The streaming runtime: a source's frames through threads and bounded queues to tracked masks.

    runtime = StreamRuntime(Segmenter.from_checkpoint(...), StreamConfig())
    for result in runtime.stream("0"):          # webcam 0; or a file, URL, folder, 'synthetic:N'
        result.frame_id, result.timestamp, result.labels, result.objects(), result.latency
    runtime.stats.to_dict()

StreamConfig configures the algorithm (the Segmenter's stream_segmenter: windows against a rolling key-frame
memory, tracked ids); RuntimeSettings (attnseg.settings) configure this runtime around it. Threads, each stage
feeding the next through a bounded queue:
  capture (decode)  -> frames   -> features (Segmenter.encode: preprocess + front-end, on every
  frame already waiting, up to batch_size: one for a live camera that keeps
  up, a batch when a file is read faster than it is segmented)
                    -> features -> windows (affinity + clustering + tracking +
  upsampling)       -> results  -> the consumer (the outputs: StreamResult.output_frame feeds the fan-out).
On a CPU the two compute stages take turns (one lock): each already uses every
core through torch's thread pool, and running both at once oversubscribes them
(docs/streaming.md has the measurement, streaming against offline in one run).
Drop policy of the frames queue, by name: "drop-oldest" (default for live
sources: a stale frame is dropped, counted, never processed) or "wait"
(default for files, folders and synthetic sources: capture blocks, nothing is
lost). The later queues always wait, so a processed frame always gets its
mask. A worker's exception reaches the consumer once, as a StreamError
naming its stage; every thread is stopped and the source closed.

A live source that disconnects ends the stream (on_disconnect="end") or is
reopened up to `reconnect_attempts` times (on_disconnect="reconnect"); a
source that delivers nothing for `stall_timeout` seconds ends the stream (None: wait
for ever, for a host that pushes frames when it has them and ends the stream by closing the source).
Either way the results so far have been yielded; `stats.ended_by` says why.
"""
from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
import torch

from ..errors import InputError, SettingError, SourceDisconnected, StreamError
from ..settings import DropPolicy, EndReason, OnDisconnect, RuntimeSettings, StreamConfig
from .carry import Carrier
from .masks import label_maps, sample_grid
from .outputs import OutputFrame
from .segmenter import Segmenter
from .sources import Frame, FrameSource, opener

RUNTIME = RuntimeSettings()  # the runtime's defaults (attnseg.settings)
Source = Union[FrameSource, Callable[[], FrameSource], str, int]  # what stream() takes, or a list of them
CARRY_QUEUE = 64  # carrying: frames waiting for the front-end at most (more: the oldest is lost, counted dropped)
_END = object()


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


class _Carry:
    """A frame the front-end skipped for a newer one: it is given carried labels, in its place in the order."""

    def __init__(self, frame: Frame):
        self.frame = frame


class _Failure:
    def __init__(self, stage: str, error: BaseException):
        self.stage, self.error = stage, error


class _Ended:
    """A source ended (the others go on): its last frames are clustered now."""

    def __init__(self, source: int):
        self.source = source


class _Arrivals:
    """Frames put by the capture threads, counted: the front-end waits for the count to move past what it saw."""

    def __init__(self):
        self.count, self.changed = 0, threading.Condition()

    def notify(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_past(self, seen: int, timeout: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.count != seen, timeout=timeout)


@dataclass
class _Feed:
    """One source of a stream: what opens it again, its policies, its queue to the front-end, its figures."""

    index: int
    src: FrameSource
    reopen: Callable[[], FrameSource] | None
    drop: DropPolicy
    carry: bool
    frames: queue.Queue
    stats: StreamStats


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


class StreamRuntime:
    def __init__(self, segmenter: Segmenter, config: StreamConfig = StreamConfig()):
        self.segmenter, self.config = segmenter, config
        self.stats = StreamStats()
        self.source_stats = [self.stats]  # each source's figures (one source: the stream's own)
        # CPU: front-end and clustering take turns on the cores; a GPU overlaps them
        self._compute = threading.Lock() if segmenter.device.type == "cpu" else contextlib.nullcontext()
        # CPU: a frame's clustering goes before the next front-end call (the lock alone lets the front-end take
        # the cores again and again while clustered frames wait): frames handed to clustering, not yet clustered
        self._turns = segmenter.device.type == "cpu"
        self._clustered = threading.Condition()
        self._unclustered = 0

    @torch.inference_mode()
    def warm_up(self) -> int:
        """Compile before the first frame what the stream would otherwise compile mid-stream.

        The front-end runs once on a frame of this resolution (a compiled or exported backend builds
        its graph for batch 1). With the Triton kernels, a window is clustered against a memory of
        1, 2, ... `memory` key frames (every key-column count the stream meets, each a new kernel
        specialization), tracker included. Returns the number of windows clustered (causal: one a frame).
        """
        seg, cfg = self.segmenter, self.config
        q, k = seg.encode(np.zeros((1, *seg.config.resolution, 3), dtype=np.uint8))  # a frame of the ViT's size
        if not (seg.kernels == "triton" or (seg.kernels == "certified" and seg.device.type == "cuda")):
            return 0  # nothing to compile: the reference, or the certified path's PyTorch products on a CPU
        gen = torch.Generator(device=seg.device).manual_seed(0)
        stream = seg.stream_segmenter(dataclasses.replace(cfg, ratio=cfg.window))
        windows = 0
        while len(stream.keys) < cfg.memory or not windows:  # a key frame every window: memory 1, 2, ...
            for _ in range(cfg.window):
                noise = torch.randn(q.shape[1:], device=seg.device, generator=gen)
                windows += bool(stream.push(q[0] + noise, k[0] + noise))
        return windows

    def stream(self, source: Source | Sequence[Source], live: RuntimeSettings = RUNTIME, **changes
               ) -> Iterator[StreamResult]:
        """Segment `source` live; yields one StreamResult per processed frame, in order.

        `source`: a source (a FrameSource, a function that opens one, or what open_source takes), or a list of
        them (several cameras): one model for all, each front-end call on the frames waiting from every source,
        each source clustered and tracked on its own (its own ids, from 0); results carry their source's number
        (`StreamResult.source`, in the list's order) and come in each source's order. A source that ends
        (disconnected, stalled, at its end) ends alone; the stream ends with the last. `stats` sums the sources;
        `source_stats` holds each one's.

        `live`: the runtime's settings (attnseg.settings.RuntimeSettings); keywords change single ones
        (`stream(src, queue_size=4, warm_up=False)`). Warm-up (StreamRuntime.warm_up) runs before the
        source is opened."""
        live = dataclasses.replace(live, **changes) if changes else live
        many = isinstance(source, (list, tuple))
        sources = list(source) if many else [source]
        if not sources:
            raise SettingError("no source to stream")
        if live.warm_up:
            self.warm_up()
        feeds = [self._feed(i, s, live) for i, s in enumerate(sources)]
        self.source_stats = [f.stats for f in feeds]
        self.stats = stats = Combined(self.source_stats, [f.src.name for f in feeds]) if many else feeds[0].stats
        self._unclustered = 0
        stop = threading.Event()
        arrived = _Arrivals()  # a capture thread put a frame: the front-end waits on every source at once
        features, results = (queue.Queue(maxsize=live.queue_size + (CARRY_QUEUE if any(f.carry for f in feeds)
                                                                     else 0)) for _ in range(2))
        workers = [threading.Thread(target=self._capture, name=f"attnseg-capture-{f.index}", daemon=True,
                                    args=(f, live, stop, arrived)) for f in feeds]
        workers += [
            threading.Thread(target=self._features, name="attnseg-features", daemon=True,
                             args=(feeds, features, stop, live.stall_timeout, arrived)),
            threading.Thread(target=self._windows, name="attnseg-windows", daemon=True,
                             args=(feeds, features, results, stop)),
        ]
        for w in workers:
            w.start()
        try:
            while True:
                item = results.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    stats.end(EndReason.ERROR, item.stage)
                    raise StreamError(f"{item.stage} failed: {item.error}") from item.error
                item.delivered = time.monotonic()
                part = self.source_stats[item.source]
                if item.carried:
                    part.frames_carried += 1
                else:
                    part.frames_processed += 1
                    part.latencies.append(item.latency)
                    del part.latencies[:-10000]
                part.delivered.append(item.delivered - item.timestamp)
                del part.delivered[:-10000]
                yield item
        finally:
            stop.set()
            for q in (*(f.frames for f in feeds), features, results):  # unblock producers waiting on a full queue
                _drain(q)
            for w in workers:
                w.join(timeout=5)
            stopped = [p for p in self.source_stats if p.end_reason is EndReason.RUNNING]  # by the consumer
            for part in self.source_stats:
                part.finished = part.finished or time.monotonic()
                if part.end_reason is EndReason.RUNNING:
                    part.end(EndReason.STOPPED)
            if many:
                stats.finished = time.monotonic()
                if stats.end_reason is EndReason.RUNNING:  # every source ended by itself: as the last one did
                    last = max(self.source_stats, key=lambda p: p.finished)
                    stats.end(EndReason.STOPPED if stopped else last.end_reason)

    def _feed(self, index: int, source: Source, live: RuntimeSettings) -> _Feed:
        """One source opened, with its queue of frames waiting for the front-end and its policies."""
        if isinstance(source, (str, int)):
            reopen = opener(source, realtime=live.realtime, loop=live.loop)
        else:  # a source, or a function that opens one (then a disconnect can reconnect)
            reopen = source if callable(source) and not hasattr(source, "read") else None
        src = reopen() if reopen else source
        drop = live.drop or (DropPolicy.DROP_OLDEST if src.live else DropPolicy.WAIT)
        # carrying: every frame waits; the front-end takes the newest, the older ones go on to be carried
        carry = live.carry and drop is DropPolicy.DROP_OLDEST
        batch = self.segmenter.config.batch_size  # a file read ahead waits in batches for the front-end
        frames = queue.Queue(maxsize=CARRY_QUEUE if carry else live.queue_size if drop is DropPolicy.DROP_OLDEST
                             else max(live.queue_size, batch))
        return _Feed(index, src, reopen, drop, carry, frames, StreamStats())

    # -- stages -------------------------------------------------------------------------------------

    def _capture(self, feed: _Feed, live: RuntimeSettings, stop, arrived):
        stats, src, out = feed.stats, feed.src, feed.frames
        next_id = 0
        try:
            while not stop.is_set():
                if live.max_frames is not None and stats.frames_in >= live.max_frames:
                    stats.end(EndReason.MAX_FRAMES)
                    break
                try:
                    frame = src.read()
                except SourceDisconnected as err:
                    src.close()
                    attempts = live.reconnect_attempts if live.on_disconnect is OnDisconnect.RECONNECT else 0
                    src, lost = self._reconnect(feed, err, stop, attempts)
                    if src is not None:
                        continue
                    stats.end(EndReason.DISCONNECTED, lost)
                    break
                if frame is None:
                    stats.end(EndReason.END_OF_SOURCE)
                    break
                # ids unique across reconnects and loops
                frame = Frame(next_id, frame.timestamp, frame.image, frame.tag, frame.name, feed.index)
                next_id += 1
                stats.frames_in += 1
                if feed.drop is DropPolicy.WAIT:
                    _put(out, frame, stop)
                else:
                    while True:
                        try:
                            out.put_nowait(frame)
                            break
                        except queue.Full:
                            try:
                                out.get_nowait()
                                stats.frames_dropped += 1
                            except queue.Empty:
                                pass
                arrived.notify()
            _put(out, _END, stop)
        except BaseException as err:  # noqa: BLE001 - every failure is handed to the consumer
            _put(out, _Failure("capture", err), stop)
        finally:
            if src is not None:  # None: lost, and not opened again
                src.close()
            stats.finished = time.monotonic()
            arrived.notify()

    def _reconnect(self, feed: _Feed, err: Exception, stop, attempts: int) -> tuple[FrameSource | None, str]:
        """The source reopened (a reconnection attempt each try, up to `attempts` in the whole stream, waiting a
        little longer before each: 0.2 s, 0.4 s, ... 2 s), or None and why the stream ends. A source that cannot be
        opened again (a server still down) costs an attempt, as a disconnect does."""
        stats, lost, began, tried = feed.stats, err, time.monotonic(), 0
        while feed.reopen and stats.reconnects < attempts and not stop.is_set():
            stats.reconnects += 1
            tried += 1
            time.sleep(min(2.0, 0.2 * stats.reconnects))
            try:
                return feed.reopen(), ""
            except InputError as failed:
                lost = failed
        detail = str(lost) if not tried else (f"{lost}; gave up after {tried} reconnection attempt"
                                              f"{'s' if tried > 1 else ''} over {time.monotonic() - began:.1f} s")
        return None, detail

    @torch.inference_mode()
    def _features(self, feeds: list[_Feed], out, stop, stall_timeout, arrived):
        """The front-end: from every source still streaming, the frames waiting (the newest one each where it
        carries), into one call; a source that ends, stalls or fails is ended alone (its end marker follows its
        frames), the front-end goes on with the others."""
        seg = self.segmenter
        open_feeds = list(feeds)
        handed = [0] * len(feeds)  # frames of each source handed to clustering, each pushed in this order
        heard = [time.monotonic()] * len(feeds)  # when each source last delivered
        held: list = [None] * len(feeds)  # taken from a queue but not into the last batch: the next starts with it
        single = len(feeds) == 1
        try:
            while open_feeds and not stop.is_set():
                seen = arrived.count
                taken: dict[int, list] = {}
                for feed in list(open_feeds):
                    i = feed.index
                    item, held[i] = (held[i], None) if held[i] is not None else (_get(feed.frames), None)
                    if item is None:
                        if stall_timeout is not None and time.monotonic() - heard[i] > stall_timeout:
                            feed.stats.end(EndReason.STALLED, f"no frame for {stall_timeout:g} s")
                            open_feeds.remove(feed)  # its frames in flight still get their masks
                            _put(out, _Ended(i), stop)
                        continue
                    heard[i] = time.monotonic()
                    if item is _END or isinstance(item, _Failure):
                        open_feeds.remove(feed)
                        if isinstance(item, _Failure) and single:
                            _put(out, item, stop)  # one source: its failure is the stream's
                            return
                        if isinstance(item, _Failure):  # several: this source ends alone, saying why
                            feed.stats.end(EndReason.ERROR, f"capture: {item.error}")
                        _put(out, _Ended(i), stop)
                        continue
                    taken[i] = [item]
                if not taken:
                    if open_feeds:
                        arrived.wait_past(seen, timeout=0.05)
                    continue
                if self._turns:  # the frames handed over are clustered first; then the newest frames are taken
                    with self._clustered:
                        while self._unclustered and not stop.is_set():
                            self._clustered.wait(0.1)
                for i, first in taken.items():
                    if feeds[i].carry:  # the newest frame waiting is segmented; the older ones go on to be carried
                        item = first[0]
                        while held[i] is None:
                            newer = _get(feeds[i].frames)
                            if newer is None:
                                break
                            if isinstance(newer, Frame) and newer.image.shape == item.image.shape:
                                _put(out, _Carry(item), stop)
                                item = newer
                            else:
                                held[i] = newer
                        first[0] = item
                size = len(taken)
                for i in taken:  # every frame already waiting, up to the batch size, each source in turn
                    while held[i] is None and size < seg.config.batch_size:
                        more = _get(feeds[i].frames)
                        if more is None:
                            break
                        if isinstance(more, Frame) and more.image.shape == taken[i][0].image.shape:
                            taken[i].append(more)
                            size += 1
                        else:
                            held[i] = more
                batch = [f for frames in taken.values() for f in frames]
                # k only where a key frame is among them: each stream keeps every `ratio`-th frame's k
                keys = any((handed[i] + j) % self.config.ratio == 0 for i, frames in taken.items()
                           for j in range(len(frames)))
                with self._compute:  # one front-end call for every source
                    q, k = seg.encode_frame_batch([f.image for f in batch], keys=keys)
                with self._clustered:
                    self._unclustered += len(batch)
                for j, frame in enumerate(batch):
                    handed[frame.source] += 1
                    _put(out, (frame, q[j], None if k is None else k[j]), stop)
            _put(out, _END, stop)
        except BaseException as err:  # noqa: BLE001
            _put(out, _Failure("front-end", err), stop)

    @torch.inference_mode()
    def _windows(self, feeds: list[_Feed], inp, out, stop):
        """Clustering and tracking, each source on its own stream segmenter; carried labels per source."""
        seg = self.segmenter
        streams = [seg.stream_segmenter(self.config) for _ in feeds]
        carriers = [Carrier() if f.carry else None for f in feeds]
        waiting: list[list[Frame]] = [[] for _ in feeds]

        def emit(i, maps):
            for frame, ids in zip(waiting[i], maps):
                patch, labels = label_maps(ids, seg.grid, frame.image.shape[:2])
                if carriers[i] is not None:
                    carriers[i].segmented(frame.image, labels)
                _put(out, StreamResult(frame.id, frame.timestamp, labels, patch, time.monotonic() - frame.timestamp,
                                       frame.image, frame.tag, name=frame.name, source=i), stop)
            waiting[i].clear()

        def finish(i):
            with self._compute:
                maps = streams[i].flush()  # nothing, for a source already finished
            emit(i, maps)

        try:
            while True:
                try:
                    item = inp.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():  # the consumer stopped: no end marker will come
                        return
                    continue
                if isinstance(item, _Carry):  # skipped by the front-end: the last segmented labels, moved to it
                    frame = item.frame
                    i = frame.source
                    moved = carriers[i].carry(frame.image) if not waiting[i] else None
                    if moved is None:  # nothing segmented yet, or a window still open (not causal)
                        self.source_stats[i].frames_dropped += 1
                        continue
                    coarse, labels = moved
                    _put(out, StreamResult(frame.id, frame.timestamp, labels, sample_grid(labels, seg.grid),
                                           time.monotonic() - frame.timestamp, frame.image, frame.tag,
                                           name=frame.name, carried=True, coarse=coarse, source=i), stop)
                    continue
                if isinstance(item, _Ended):  # one source ended: its last window, now
                    finish(item.source)
                    continue
                if item is _END:
                    for i in range(len(feeds)):
                        finish(i)
                    _put(out, _END, stop, force=True)
                    return
                if isinstance(item, _Failure):
                    _put(out, item, stop, force=True)
                    return
                frame, q, k = item
                waiting[frame.source].append(frame)
                with self._compute:
                    maps = streams[frame.source].push(q, k)
                with self._clustered:
                    self._unclustered -= 1
                    self._clustered.notify()
                if maps:
                    emit(frame.source, maps)
        except BaseException as err:  # noqa: BLE001
            _put(out, _Failure("clustering", err), stop, force=True)


def _get(q: queue.Queue):
    try:
        return q.get_nowait()
    except queue.Empty:
        return None


def _put(q: queue.Queue, item, stop: threading.Event, force: bool = False) -> None:
    """Put, waiting while the queue is full, unless the stream is stopping (then only `force` items go)."""
    while True:
        try:
            q.put(item, timeout=0.05)
            return
        except queue.Full:
            if stop.is_set() and not force:
                return
            if stop.is_set():
                _drain(q)


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def stream(source, *, segmenter: Segmenter | None = None, config: StreamConfig = StreamConfig(),
           **stream_kwargs) -> Iterator[StreamResult]:
    """One-call API: `for r in stream("0", segmenter=seg): ...`."""
    return StreamRuntime(segmenter or Segmenter.from_checkpoint(), config).stream(source, **stream_kwargs)


class StreamEngine(StreamRuntime):
    """Deprecated: the streaming runtime is called StreamRuntime ("engine" names the package)."""

    def __init__(self, *args, **kwargs):
        warnings.warn("StreamEngine is deprecated: it is called StreamRuntime", DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)

