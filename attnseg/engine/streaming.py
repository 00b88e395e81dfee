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
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import SourceDisconnected, StreamError
from ..settings import DropPolicy, EndReason, OnDisconnect, RuntimeSettings, StreamConfig
from .carry import Carrier
from .masks import label_maps, sample_grid
from .outputs import OutputFrame
from .segmenter import Segmenter
from .sources import Frame, FrameSource, opener

RUNTIME = RuntimeSettings()  # the runtime's defaults (attnseg.settings)
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
                           captured=self.timestamp, carried=self.carried, grid=self.grid_labels)


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


class StreamRuntime:
    def __init__(self, segmenter: Segmenter, config: StreamConfig = StreamConfig()):
        self.segmenter, self.config = segmenter, config
        self.stats = StreamStats()
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

    def stream(self, source: FrameSource | Callable[[], FrameSource] | str | int, live: RuntimeSettings = RUNTIME,
               **changes) -> Iterator[StreamResult]:
        """Segment `source` live; yields one StreamResult per processed frame, in order.

        `live`: the runtime's settings (attnseg.settings.RuntimeSettings); keywords change single ones
        (`stream(src, queue_size=4, warm_up=False)`). Warm-up (StreamRuntime.warm_up) runs before the
        source is opened."""
        live = dataclasses.replace(live, **changes) if changes else live
        realtime, warm_up, queue_size = live.realtime, live.warm_up, live.queue_size
        if warm_up:
            self.warm_up()
        if isinstance(source, (str, int)):
            reopen = opener(source, realtime=realtime, loop=live.loop)
        else:  # a source, or a function that opens one (then a disconnect can reconnect)
            reopen = source if callable(source) and not hasattr(source, "read") else None
        src = reopen() if reopen else source
        drop = live.drop or (DropPolicy.DROP_OLDEST if src.live else DropPolicy.WAIT)
        self.stats = stats = StreamStats()
        self._unclustered = 0
        stop = threading.Event()
        batch = self.segmenter.config.batch_size  # a file read ahead waits in batches for the front-end
        # carrying: every frame waits; the front-end takes the newest, the older ones go on to be carried
        carry = live.carry and drop is DropPolicy.DROP_OLDEST
        frames = queue.Queue(maxsize=CARRY_QUEUE if carry else queue_size if drop is DropPolicy.DROP_OLDEST
                             else max(queue_size, batch))
        features, results = (queue.Queue(maxsize=queue_size + (CARRY_QUEUE if carry else 0)) for _ in range(2))
        workers = [
            threading.Thread(target=self._capture, name="attnseg-capture", daemon=True,
                             args=(src, reopen, frames, drop, stop, live.on_disconnect, live.reconnect_attempts,
                                   live.max_frames)),
            threading.Thread(target=self._features, name="attnseg-features", daemon=True,
                             args=(frames, features, stop, live.stall_timeout, carry)),
            threading.Thread(target=self._windows, name="attnseg-windows", daemon=True,
                             args=(features, results, stop, carry)),
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
                if item.carried:
                    stats.frames_carried += 1
                else:
                    stats.frames_processed += 1
                    stats.latencies.append(item.latency)
                    del stats.latencies[:-10000]
                stats.delivered.append(item.delivered - item.timestamp)
                del stats.delivered[:-10000]
                yield item
        finally:
            stop.set()
            for q in (frames, features, results):  # unblock producers waiting on a full queue
                _drain(q)
            for w in workers:
                w.join(timeout=5)
            stats.finished = time.monotonic()
            if stats.end_reason is EndReason.RUNNING:
                stats.end(EndReason.STOPPED)

    # -- stages -------------------------------------------------------------------------------------

    def _capture(self, src, reopen, out, drop, stop, on_disconnect, attempts, max_frames):
        stats = self.stats
        next_id = 0
        try:
            while not stop.is_set():
                if max_frames is not None and stats.frames_in >= max_frames:
                    stats.end(EndReason.MAX_FRAMES)
                    break
                try:
                    frame = src.read()
                except SourceDisconnected as err:
                    if on_disconnect is OnDisconnect.RECONNECT and reopen and stats.reconnects < attempts:
                        stats.reconnects += 1
                        src.close()
                        time.sleep(min(2.0, 0.2 * stats.reconnects))
                        src = reopen()
                        continue
                    stats.end(EndReason.DISCONNECTED, str(err))
                    break
                if frame is None:
                    stats.end(EndReason.END_OF_SOURCE)
                    break
                # ids unique across reconnects and loops
                frame = Frame(next_id, frame.timestamp, frame.image, frame.tag, frame.name)
                next_id += 1
                stats.frames_in += 1
                if drop is DropPolicy.WAIT:
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
            _put(out, _END, stop)
        except BaseException as err:  # noqa: BLE001 - every failure is handed to the consumer
            _put(out, _Failure("capture", err), stop)
        finally:
            src.close()

    @torch.inference_mode()
    def _features(self, inp, out, stop, stall_timeout, carrying):
        seg = self.segmenter
        held = None  # taken from the queue but not into this batch: the next batch starts with it
        handed = 0  # frames handed to clustering, each pushed in this order
        try:
            while not stop.is_set():
                if held is not None:
                    item, held = held, None
                else:
                    try:
                        item = inp.get(timeout=0.2 if stall_timeout is None else stall_timeout)
                    except queue.Empty:
                        if stall_timeout is None:
                            continue
                        self.stats.end(EndReason.STALLED, f"no frame for {stall_timeout:g} s")
                        _put(out, _END, stop)  # the frames already in flight still get their masks
                        return
                if item is _END or isinstance(item, _Failure):
                    _put(out, item, stop)
                    return
                if self._turns:  # the frames handed over are clustered first; then the newest frame is taken
                    with self._clustered:
                        while self._unclustered and not stop.is_set():
                            self._clustered.wait(0.1)
                if carrying:  # the newest frame waiting is segmented; the older ones go on, in order, to be carried
                    while held is None:
                        try:
                            newer = inp.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(newer, Frame) and newer.image.shape == item.image.shape:
                            _put(out, _Carry(item), stop)
                            item = newer
                        else:
                            held = newer
                batch = [item]
                while held is None and len(batch) < seg.config.batch_size:  # every frame already waiting
                    try:
                        held = inp.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(held, Frame) and held.image.shape == item.image.shape:
                        batch.append(held)
                        held = None
                # k only where a key frame is among them: the stream keeps every `ratio`-th frame's k
                keys = any((handed + i) % self.config.ratio == 0 for i in range(len(batch)))
                with self._compute:  # at most batch_size frames: one front-end call
                    q, k = seg.encode_frame_batch([f.image for f in batch], keys=keys)
                handed += len(batch)
                with self._clustered:
                    self._unclustered += len(batch)
                for i, frame in enumerate(batch):
                    _put(out, (frame, q[i], None if k is None else k[i]), stop)
        except BaseException as err:  # noqa: BLE001
            _put(out, _Failure("front-end", err), stop)

    @torch.inference_mode()
    def _windows(self, inp, out, stop, carrying):
        seg = self.segmenter
        stream = seg.stream_segmenter(self.config)
        carrier = Carrier() if carrying else None
        waiting: list[Frame] = []

        def emit(maps):
            for frame, ids in zip(waiting, maps):
                patch, labels = label_maps(ids, seg.grid, frame.image.shape[:2])
                if carrier is not None:
                    carrier.segmented(frame.image, labels)
                _put(out, StreamResult(frame.id, frame.timestamp, labels, patch, time.monotonic() - frame.timestamp,
                                       frame.image, frame.tag, name=frame.name), stop)
            waiting.clear()

        try:
            while True:
                try:
                    item = inp.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():  # the consumer stopped: no end marker will come
                        return
                    continue
                if isinstance(item, _Carry):  # skipped by the front-end: the last segmented labels, moved to it
                    moved = carrier.carry(item.frame.image) if not waiting else None
                    if moved is None:  # nothing segmented yet, or a window still open (not causal)
                        self.stats.frames_dropped += 1
                        continue
                    frame, (coarse, labels) = item.frame, moved
                    _put(out, StreamResult(frame.id, frame.timestamp, labels, sample_grid(labels, seg.grid),
                                           time.monotonic() - frame.timestamp, frame.image, frame.tag,
                                           name=frame.name, carried=True, coarse=coarse), stop)
                    continue
                if item is _END:
                    with self._compute:
                        maps = stream.flush()
                    emit(maps)
                    _put(out, _END, stop, force=True)
                    return
                if isinstance(item, _Failure):
                    _put(out, item, stop, force=True)
                    return
                frame, q, k = item
                waiting.append(frame)
                with self._compute:
                    maps = stream.push(q, k)
                with self._clustered:
                    self._unclustered -= 1
                    self._clustered.notify()
                if maps:
                    emit(maps)
        except BaseException as err:  # noqa: BLE001
            _put(out, _Failure("clustering", err), stop, force=True)


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

