"""The ROS 2 node's work, without ROS: images in with their headers, label maps out with the same headers.

    bridge = SegmentationBridge(Session(settings), publish=lambda header, frame: ...,
                                clock_ns=lambda: node.get_clock().now().nanoseconds)
    bridge.on_image(msg.header, stamp_ns, msg.height, msg.width, msg.encoding, msg.step, msg.data)
    bridge.close()

Incoming frames older than `max_frame_age_s` (by their header stamp, against `clock_ns`) are dropped before any
work; the fresh ones are pushed to the session (attnseg.engine.session), which streams them on the bridge's
thread as every face does: its runtime settings (the "robot" preset: the newest frame only, no stall timeout)
make the front-end take the newest while it is busy, and the frames it skips get the last labels carried to them
by optical flow (`carry`, frame.carried) or are dropped. Each result reaches `publish` as the session's outputs
take it (an OutputFrame: `mask` at the frame's size, `carried`, `overlay`), in order, with the header its frame
came with; the time from its header stamp to the end of `publish` is the publish latency in stats().
ros_node.py wraps this in an rclpy node; the tests drive it directly.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..engine.live.sources import PushSource
from ..engine.live.stats import percentiles
from ..engine.outputs.fanout import OutputFrame, Outputs, Sink
from ..engine.session import Session
from ..errors import StreamError
from ..settings import RosNodeSettings
from .ros_messages import is_stale, rgb_from_fields

log = logging.getLogger(__name__)
NODE = RosNodeSettings()  # the node's defaults (attnseg.settings)


class SegmentationBridge:
    def __init__(self, session: Session, publish: Callable[[Any, OutputFrame], None], *,
                 max_frame_age_s: float = NODE.max_frame_age, clock_ns: Callable[[], int] = time.time_ns):
        self.session, self.publish = session, publish
        self.max_frame_age_s, self.clock_ns = max_frame_age_s, clock_ns
        self.published: list[float] = []  # seconds from header stamp to published (the last 10000)
        self.source = PushSource(capacity=1, name="ros image topic")
        self.runtime = session.runtime  # the model loads here, before the first image
        self.received = self.stale = 0
        self.error: StreamError | None = None
        self.thread = threading.Thread(target=self._run, name="attnseg-ros-bridge", daemon=True)
        self.thread.start()

    def on_image(self, header: Any, stamp_ns: int, height: int, width: int, encoding: str, step: int, data) -> bool:
        """One incoming image; False when it was dropped as stale. A bad encoding raises ValueError."""
        self.received += 1
        if is_stale(stamp_ns, self.clock_ns(), self.max_frame_age_s):
            self.stale += 1
            return False
        self.source.push(rgb_from_fields(height, width, encoding, step, data), (header, stamp_ns))
        return True

    def _run(self) -> None:
        topic = Sink(self, lambda _, frame: self._publish(frame), owned=False)  # the node closes the bridge
        report = self.session.stream([self.source], shared=Outputs(extra=[lambda: topic]))
        if report.failure is not None:
            self.error = report.failure
            log.error("attnseg stream ended: %s", report.failure)

    def _publish(self, frame: OutputFrame) -> None:
        header, stamp_ns = frame.tag
        self.publish(header, frame)
        self.published.append((self.clock_ns() - stamp_ns) / 1e9)
        del self.published[:-10000]

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

