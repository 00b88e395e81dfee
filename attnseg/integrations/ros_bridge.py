"""The ROS 2 node's work, without ROS: images in with their headers, label maps out with the same headers.

    bridge = SegmentationBridge(segmenter, StreamConfig(), publish=lambda header, result: ...,
                                clock_ns=lambda: node.get_clock().now().nanoseconds)
    bridge.on_image(msg.header, stamp_ns, msg.height, msg.width, msg.encoding, msg.step, msg.data)
    bridge.close()

Incoming frames older than `max_frame_age_s` (by their header stamp, against
`clock_ns`) are dropped before any work; the fresh ones go to the streaming
runtime, whose front-end takes the newest while the engine is busy: the
frames it skips get the last labels carried to them by optical flow
(`carry`, result.carried) or are dropped. Results come back on the engine's
thread, in order, each with the header its frame came with; the time from
its header stamp to the end of `publish` is the publish latency in stats().
ros_node.py wraps this in an rclpy node; the tests drive it directly.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..engine import Segmenter, StreamConfig, StreamError, StreamResult, StreamRuntime
from ..engine.sources import PushSource
from ..engine.streaming import percentiles
from ..settings import RosNodeSettings
from .ros_messages import is_stale, rgb_from_fields

log = logging.getLogger(__name__)
NODE = RosNodeSettings()  # the node's defaults (attnseg.settings)


class SegmentationBridge:
    def __init__(self, segmenter: Segmenter, config: StreamConfig, publish: Callable[[Any, StreamResult], None], *,
                 max_frame_age_s: float = NODE.max_frame_age, clock_ns: Callable[[], int] = time.time_ns,
                 queue_size: int = 1, carry: bool = True):
        self.publish, self.max_frame_age_s, self.clock_ns = publish, max_frame_age_s, clock_ns
        self.published: list[float] = []  # seconds from header stamp to published (the last 10000)
        self.source = PushSource(capacity=1, name="ros image topic")
        self.runtime = StreamRuntime(segmenter, config)
        self.received = self.stale = 0
        self.error: StreamError | None = None
        self.thread = threading.Thread(target=self._run, args=(queue_size, carry), name="attnseg-ros-bridge",
                                       daemon=True)
        self.thread.start()

    def on_image(self, header: Any, stamp_ns: int, height: int, width: int, encoding: str, step: int, data) -> bool:
        """One incoming image; False when it was dropped as stale. A bad encoding raises ValueError."""
        self.received += 1
        if is_stale(stamp_ns, self.clock_ns(), self.max_frame_age_s):
            self.stale += 1
            return False
        self.source.push(rgb_from_fields(height, width, encoding, step, data), (header, stamp_ns))
        return True

    def _run(self, queue_size: int, carry: bool) -> None:
        try:
            for result in self.runtime.stream(self.source, drop="drop-oldest", queue_size=queue_size,
                                             stall_timeout=None, carry=carry):
                header, stamp_ns = result.tag
                self.publish(header, result)
                self.published.append((self.clock_ns() - stamp_ns) / 1e9)
                del self.published[:-10000]
        except StreamError as err:
            self.error = err
            log.error("attnseg stream ended: %s", err)

    def stats(self) -> dict:
        """The runtime's StreamStats, with the images received and every kind of drop: stale, superseded while
        busy, queue."""
        stats = self.runtime.stats.to_dict()
        stats["frames_received"], stats["frames_stale"] = self.received, self.stale
        stats["publish_latency_ms"] = percentiles(self.published)  # header stamp to published
        stats["frames_dropped"] += self.source.dropped + self.stale
        return stats

    def close(self, timeout: float = 30.0) -> bool:
        """End the stream: the frames already taken in still get their masks, then the thread ends; whether it
        did within `timeout` seconds."""
        self.source.close()
        self.thread.join(timeout)
        return not self.thread.is_alive()
