"""What the streaming runtime's threads pass each other through their bounded queues, and how they pass it
(attnseg.engine.live.runtime): a source's Feed (and its reconnection), the items besides frames (a frame to Carry, a stage's Failure, a
source that Ended, the END of all), the Arrivals the front-end waits on, and put/take/drain, which never block a
stream that is stopping."""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ...errors import InputError
from ...settings import DropPolicy
from .carry import Carrier
from .sources import Frame, FrameSource
from .stats import StreamStats

END = object()  # the last item of a queue: the stream is over


class Carry:
    """A frame the front-end skipped for a newer one: it is given carried labels, in its place in the order."""

    def __init__(self, frame: Frame):
        self.frame = frame


class Failure:
    def __init__(self, stage: str, error: BaseException):
        self.stage, self.error = stage, error


class Ended:
    """A source ended (the others go on): its last frames are clustered now."""

    def __init__(self, source: int):
        self.source = source


class Arrivals:
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
class Feed:
    """One source of a stream: what opens it again, its policies, its queue to the front-end, its figures."""

    index: int
    src: FrameSource
    reopen: Callable[[], FrameSource] | None
    drop: DropPolicy
    carry: bool
    frames: queue.Queue
    stats: StreamStats
    carrier: Carrier | None = None  # carrying: the last segmented frame's labels, moved to the frames that need them

    def reconnect(self, err: Exception, stop, attempts: int) -> tuple[FrameSource | None, str]:
        """The source reopened (a reconnection attempt each try, up to `attempts` in the whole stream, waiting a
        little longer before each: 0.2 s, 0.4 s, ... 2 s), or None and why the stream ends. A source that cannot be
        opened again (a server still down) costs an attempt, as a disconnect does."""
        stats, lost, began, tried = self.stats, err, time.monotonic(), 0
        while self.reopen and stats.reconnects < attempts and not stop.is_set():
            stats.reconnects += 1
            tried += 1
            time.sleep(min(2.0, 0.2 * stats.reconnects))
            try:
                return self.reopen(), ""
            except InputError as failed:
                lost = failed
        detail = str(lost) if not tried else (f"{lost}; gave up after {tried} reconnection attempt"
                                              f"{'s' if tried > 1 else ''} over {time.monotonic() - began:.1f} s")
        return None, detail


def take(q: queue.Queue):
    try:
        return q.get_nowait()
    except queue.Empty:
        return None


def put(q: queue.Queue, item, stop: threading.Event, force: bool = False) -> None:
    """Put, waiting while the queue is full, unless the stream is stopping (then only `force` items go)."""
    while True:
        try:
            q.put(item, timeout=0.05)
            return
        except queue.Full:
            if stop.is_set() and not force:
                return
            if stop.is_set():
                drain(q)


def put_dropping_oldest(q: queue.Queue, item) -> int:
    """Put without waiting: while the queue is full, its oldest item is dropped; how many were."""
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
                dropped += 1


def drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
