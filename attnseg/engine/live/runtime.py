"""The streaming runtime: a source's frames through threads and bounded queues to tracked masks.

    runtime = StreamRuntime(Segmenter.from_checkpoint(...), StreamSettings())
    for result in runtime.stream("0"):          # webcam 0; or a file, URL, folder, 'synthetic:N'
        result.frame_id, result.timestamp, result.mask, result.objects(), result.latency
    runtime.stats.to_dict()

StreamSettings configures the algorithm (the Segmenter's stream_segmenter: windows against a rolling key-frame
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
sources, and for files, folders and synthetic sources played in real time: a
stale frame is carried or dropped, counted, never segmented) or "wait"
(default for files, folders and synthetic sources read as fast as they can be:
capture blocks, nothing is lost). The later queues always wait, so a processed frame always gets its
mask. A worker's exception reaches the consumer once, as a StreamError
naming its stage; every thread is stopped and the source closed.

A live source that disconnects ends the stream (on_disconnect="end") or is
reopened up to `reconnect_attempts` times (on_disconnect="reconnect"); a
source that delivers nothing for `stall_timeout` seconds ends the stream (None: wait
for ever, for a host that pushes frames when it has them and ends the stream by closing the source).
Either way the results so far have been yielded; `stats.ended_by` says why. What a stream hands out (its
results) is in attnseg.engine.live.results, its figures in live.stats; what the threads pass each other, in queues.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import queue
import threading
import time
from typing import Iterator, Sequence

import numpy as np
import torch

from ...errors import SettingError, StreamError
from ...settings import EndReason, RuntimeSettings, StreamSettings
from ..masks import Maps
from ..segmenter import Segmenter
from .capture import CARRY_QUEUE, Preview, Source, capture, open_feed
from .sources import Frame
from .queues import END, Arrivals, Carry, Ended, Failure, Feed, drain, put, take
from .results import StreamResult
from .stats import Combined, StreamStats
from .stream_segmenter import StreamSegmenter
from .threads import one_intra_op_thread

RUNTIME = RuntimeSettings()  # the runtime's defaults (attnseg.settings)


class StreamRuntime:
    def __init__(self, segmenter: Segmenter, config: StreamSettings = StreamSettings()):
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
        window = seg.config.window
        stream = StreamSegmenter.of(seg, cfg, ratio=window)
        windows = 0
        while len(stream.keys) < cfg.memory or not windows:  # a key frame every window: memory 1, 2, ...
            for _ in range(window):
                noise = torch.randn(q.shape[1:], device=seg.device, generator=gen)
                windows += bool(stream.push(q[0] + noise, k[0] + noise))
        return windows

    def stream(self, source: Source | Sequence[Source], live: RuntimeSettings = RUNTIME, *,
               preview: Preview | None = None, **changes) -> Iterator[StreamResult]:
        """Segment `source` live; yields one StreamResult per processed frame, in order.

        `source`: a source (a FrameSource, a function that opens one, or what open_source takes), or a list of
        them (several cameras): one model for all, each front-end call on the frames waiting from every source,
        each source clustered and tracked on its own (its own ids, from 0); results carry their source's number
        (`StreamResult.source`, in the list's order) and come in each source's order. A source that ends
        (disconnected, stalled, at its end) ends alone; the stream ends with the last. `stats` sums the sources;
        `source_stats` holds each one's.

        `preview(result)`: a display that paints the newest frame (the live page) gets each frame of a carrying
        source as soon as it is read, carried (attnseg.engine.live.capture), besides the ordered results; it must
        return at once.

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
        feeds = [open_feed(i, s, live, self.segmenter.config.batch_size) for i, s in enumerate(sources)]
        self.source_stats = [f.stats for f in feeds]
        self.stats = stats = Combined(self.source_stats, [f.src.name for f in feeds]) if many else feeds[0].stats
        self._unclustered = 0
        stop = threading.Event()
        arrived = Arrivals()  # a capture thread put a frame: the front-end waits on every source at once
        features, results = (queue.Queue(maxsize=live.queue_size + (CARRY_QUEUE if any(f.carry for f in feeds)
                                                                     else 0)) for _ in range(2))
        workers = [threading.Thread(target=capture, name=f"attnseg-capture-{f.index}", daemon=True,
                                    args=(f, live, stop, arrived, preview)) for f in feeds]
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
                if item is END:
                    return
                if isinstance(item, Failure):
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
                drain(q)
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

    @torch.inference_mode()
    def _features(self, feeds: list[Feed], out, stop, stall_timeout, arrived):
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
                    item, held[i] = (held[i], None) if held[i] is not None else (take(feed.frames), None)
                    if item is None:
                        if stall_timeout is not None and time.monotonic() - heard[i] > stall_timeout:
                            feed.stats.end(EndReason.STALLED, f"no frame for {stall_timeout:g} s")
                            open_feeds.remove(feed)  # its frames in flight still get their masks
                            put(out, Ended(i), stop)
                        continue
                    heard[i] = time.monotonic()
                    if item is END or isinstance(item, Failure):
                        open_feeds.remove(feed)
                        if isinstance(item, Failure) and single:
                            put(out, item, stop)  # one source: its failure is the stream's
                            return
                        if isinstance(item, Failure):  # several: this source ends alone, saying why
                            feed.stats.end(EndReason.ERROR, f"capture: {item.error}")
                        put(out, Ended(i), stop)
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
                            newer = take(feeds[i].frames)
                            if newer is None:
                                break
                            if isinstance(newer, Frame) and newer.image.shape == item.image.shape:
                                put(out, Carry(item), stop)
                                item = newer
                            else:
                                held[i] = newer
                        first[0] = item
                size = len(taken)
                for i in taken:  # every frame already waiting, up to the batch size, each source in turn
                    while held[i] is None and size < seg.config.batch_size:
                        more = take(feeds[i].frames)
                        if more is None:
                            break
                        if isinstance(more, Frame) and more.image.shape == taken[i][0].image.shape:
                            taken[i].append(more)
                            size += 1
                        else:
                            held[i] = more
                batch = [f for frames in taken.values() for f in frames]
                # k only where a key frame is among them: each stream keeps every `ratio`-th frame's k
                keys = any((handed[i] + j) % seg.config.ratio == 0 for i, frames in taken.items()
                           for j in range(len(frames)))
                with self._compute:  # one front-end call for every source
                    start = time.perf_counter()
                    q, k = seg.encode_frame_batch([f.image for f in batch], keys=keys)
                    self.stats.spent("front-end", time.perf_counter() - start)
                with self._clustered:
                    self._unclustered += len(batch)
                for j, frame in enumerate(batch):
                    handed[frame.source] += 1
                    put(out, (frame, q[j], None if k is None else k[j]), stop)
            put(out, END, stop)
        except BaseException as err:  # noqa: BLE001
            put(out, Failure("front-end", err), stop)

    @torch.inference_mode()
    def _windows(self, feeds: list[Feed], inp, out, stop):
        """Clustering and tracking, each source on its own stream segmenter; carried labels per source."""
        seg = self.segmenter
        if self._turns:  # a CPU: the clustering's small ops on one thread (attnseg.engine.live.threads)
            one_intra_op_thread()
        streams = [StreamSegmenter.of(seg, self.config) for _ in feeds]
        carriers = [f.carrier for f in feeds]
        waiting: list[list[Frame]] = [[] for _ in feeds]
        upsampled = functools.partial(self.stats.spent, "upsample")  # made where an output asks: timed there
        carried = functools.partial(self.stats.spent, "carry")

        def emit(i, maps):
            for frame, ids in zip(waiting[i], maps):
                patch = ids.view(*seg.grid).to(torch.int32).cpu().numpy()
                if carriers[i] is not None:
                    start = time.perf_counter()
                    carriers[i].segmented(frame.image, patch)
                    self.stats.spent("carry", time.perf_counter() - start)
                # the full-size mask: upsampled when an output first takes it
                made = Maps.segmented(patch, frame.image.shape[:2], upsampled)
                put(out, StreamResult(frame.id, frame.timestamp, made, time.monotonic() - frame.timestamp,
                                       frame.image, frame.tag, name=frame.name, source=i), stop)
            waiting[i].clear()

        def finish(i):
            with self._compute:
                start = time.perf_counter()
                maps = streams[i].flush()  # nothing, for a source already finished
                self.stats.spent("clustering", time.perf_counter() - start)
            emit(i, maps)

        try:
            while True:
                try:
                    item = inp.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():  # the consumer stopped: no end marker will come
                        return
                    continue
                if isinstance(item, Carry):  # skipped by the front-end: the last segmented labels, moved to it
                    frame = item.frame
                    i = frame.source
                    # the flow runs when an output first takes the frame (a page that paints every other frame
                    # pays for half of them)
                    moved = carriers[i].later(frame.image, carried) if not waiting[i] else None
                    if moved is None:  # nothing segmented yet, or a window still open (not causal)
                        self.source_stats[i].frames_dropped += 1
                        continue
                    put(out, StreamResult(frame.id, frame.timestamp, moved, time.monotonic() - frame.timestamp,
                                           frame.image, frame.tag, name=frame.name, carried=True, source=i), stop)
                    continue
                if isinstance(item, Ended):  # one source ended: its last window, now
                    finish(item.source)
                    continue
                if item is END:
                    for i in range(len(feeds)):
                        finish(i)
                    put(out, END, stop, force=True)
                    return
                if isinstance(item, Failure):
                    put(out, item, stop, force=True)
                    return
                frame, q, k = item
                waiting[frame.source].append(frame)
                with self._compute:
                    start = time.perf_counter()
                    maps = streams[frame.source].push(q, k)
                    self.stats.spent("clustering", time.perf_counter() - start)
                with self._clustered:
                    self._unclustered -= 1
                    self._clustered.notify()
                if maps:
                    emit(frame.source, maps)
        except BaseException as err:  # noqa: BLE001
            put(out, Failure("clustering", err), stop, force=True)


def stream(source, *, segmenter: Segmenter | None = None, config: StreamSettings = StreamSettings(),
           **stream_kwargs) -> Iterator[StreamResult]:
    """One-call API: `for r in stream("0", segmenter=seg): ...`."""
    return StreamRuntime(segmenter or Segmenter.from_checkpoint(), config).stream(source, **stream_kwargs)

