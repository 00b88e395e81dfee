"""A stream's sources: each opened as a Feed, and the capture thread that reads it into its queue
(attnseg.engine.live.runtime runs it; queues.py holds what the threads pass each other)."""
from __future__ import annotations

import functools
import queue
import threading
import time
from typing import Callable, Union

from ...errors import SourceDisconnected
from ...settings import DropPolicy, EndReason, OnDisconnect, RuntimeSettings
from .carry import Carrier
from .queues import END, Arrivals, Failure, Feed, put, put_dropping_oldest
from .results import StreamResult
from .sources import Frame, FrameSource, opener
from .stats import StreamStats

Source = Union[FrameSource, Callable[[], FrameSource], str, int]  # what a stream takes, or a list of them
CARRY_QUEUE = 64  # carrying: frames waiting for the front-end at most (more: the oldest is lost, counted dropped)


def open_feed(index: int, source: Source, live: RuntimeSettings, batch: int) -> Feed:
    """One source opened, with its queue of frames waiting for the front-end (`batch`: a file read ahead waits
    in batches for it) and its policies."""
    if isinstance(source, (str, int)):
        reopen = opener(source, realtime=live.realtime, loop=live.loop)
    else:  # a source, or a function that opens one (then a disconnect can reconnect)
        reopen = source if callable(source) and not hasattr(source, "read") else None
    src = reopen() if reopen else source
    # a camera's frames go stale, and so do those of a file played at its own pace: both drop (or carry) what
    # waits, unless asked to wait
    drop = live.drop or (DropPolicy.DROP_OLDEST if src.live or live.realtime else DropPolicy.WAIT)
    # carrying: every frame waits; the front-end takes the newest, the older ones go on to be carried
    carry = live.carry and drop is DropPolicy.DROP_OLDEST
    frames = queue.Queue(maxsize=CARRY_QUEUE if carry else live.queue_size if drop is DropPolicy.DROP_OLDEST
                         else max(live.queue_size, batch))
    return Feed(index, src, reopen, drop, carry, frames, StreamStats(), Carrier() if carry else None)


Preview = Callable[[StreamResult], None]  # takes a display's newest frame, at once (constant time)


def capture(feed: Feed, live: RuntimeSettings, stop: threading.Event, arrived: Arrivals,
            preview: Preview | None = None) -> None:
    """The capture thread of one source: its frames read (and reconnected) into its queue, by its drop policy,
    then its end marker or its failure. `preview`: where the source carries, each frame as soon as it is read,
    with the newest labels there are when it is drawn (StreamResult.carried; its maps made only if a display draws
    it), before the ordered results reach it: a display paints every camera frame without waiting for the
    front-end and clustering of the frames before it."""
    stats, src, out = feed.stats, feed.src, feed.frames
    carried = functools.partial(stats.spent, "carry")  # a preview's flow, timed where it is made
    next_id = 0
    try:
        while not stop.is_set():
            if live.max_frames is not None and stats.frames_in >= live.max_frames:
                stats.end(EndReason.MAX_FRAMES)
                break
            try:
                cpu = time.thread_time()  # decoding, not the wait for a camera's next frame
                frame = src.read()
                stats.spent("capture", time.thread_time() - cpu)
            except SourceDisconnected as err:
                src.close()
                attempts = live.reconnect_attempts if live.on_disconnect is OnDisconnect.RECONNECT else 0
                src, lost = feed.reconnect(err, stop, attempts)
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
                put(out, frame, stop)
            else:
                stats.frames_dropped += put_dropping_oldest(out, frame)
            arrived.notify()
            if preview is not None and feed.carrier is not None:
                maps = feed.carrier.later(frame.image, carried, newest=True)
                if maps is not None:
                    preview(StreamResult(frame.id, frame.timestamp, maps, time.monotonic() - frame.timestamp,
                                         frame.image, frame.tag, name=frame.name, carried=True, source=feed.index))
        put(out, END, stop)
    except BaseException as err:  # noqa: BLE001 - every failure is handed to the consumer
        put(out, Failure("capture", err), stop)
    finally:
        if src is not None:  # None: lost, and not opened again
            src.close()
        stats.finished = time.monotonic()
        arrived.notify()

