"""The attnseg ROS 2 node: sensor_msgs/Image in, label maps (and an overlay) out, latency on /diagnostics.

    pip install 'attnseg[ros2]'      # rclpy and the messages from PyPI, over Fast DDS: no ROS install needed
    attnseg-ros2 --ros-args -r image:=/camera/image_raw -p checkpoint:=/path/ckpt.pth
    ros2 run attnseg_ros attnseg_node --ros-args ...   # the same node, from ros2/attnseg_ros after colcon build

Subscribes `image`; publishes `labels` (mono16 or 32SC1 track ids, the input's size) of the frames it segments,
`carried_labels` (the same format) of the frames it had no time for, the last labels moved to them by optical
flow (`carry`, on by default: every fresh frame gets labels on one of the two), `overlay` (rgb8, when
publish_overlay, segmented frames) with the input's header (stamp and frame_id), and diagnostic_msgs/DiagnosticArray on
/diagnostics (levels: attnseg.integrations.ros_messages.latency_status). QoS: best effort, depth 1 (a
best-effort subscription takes both reliable and best-effort publishers; subscribers of `labels` must be
best effort too), or reliable everywhere with `-p reliability:=reliable`. Over Fast DDS (the default
middleware) the node runs with FASTDDS_PROFILE unless FASTDDS_DEFAULT_PROFILES_FILE is set: with Fast DDS's
defaults, best-effort camera images between processes are mostly lost (see the profile's comment). Parameters: ros_params.py (their
defaults are attnseg.presets' "robot" preset). The work is ros_bridge.SegmentationBridge; messages are
filled from ros_messages. A bad parameter ends the node at start with one log line (exit status 2); SIGINT or
SIGTERM ends it with the frames already taken in segmented and published, and the engine's thread joined.
"""
from __future__ import annotations

import array
import os
import signal
import sys
from pathlib import Path

try:  # ROS 2's Python client; without it only main() runs here, to say what to install
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from rclpy.qos import (
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_sensor_data,
    )
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image
except ImportError:
    rclpy, Node = None, object

from ..engine.live.stats import describe
from ..engine.session import Session
from ..errors import AttnsegError, short_list
from ..optional import missing
from .ros_bridge import SegmentationBridge
from .ros_messages import label_image_fields, latency_status, rgb_image_fields
from .ros_params import PARAMETERS, settings
from ..settings import Reliability

FASTDDS_PROFILE = Path(__file__).with_name("fastdds_large_images.xml")  # why: the file's own comment


def use_large_image_transport() -> str | None:
    """Point Fast DDS at FASTDDS_PROFILE (shared-memory segments that hold a camera image whole) unless the user
    chose a profile or another middleware; the profile used, or None. Must run before rclpy.init."""
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        return os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
    return None


def image_message(header, fields: dict) -> Image:
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = fields["height"], fields["width"], fields["encoding"]
    msg.is_bigendian, msg.step = fields["is_bigendian"], fields["step"]
    msg.data = array.array("B", fields["data"].tobytes())  # the fast path of the generated setter
    return msg


def qos_profile(reliable: bool, depth: int) -> QoSProfile:
    """The node's QoS for `image`, `labels` and `overlay`: sensor data (best effort) unless reliable."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=qos_profile_sensor_data.durability)


class AttnsegNode(Node):
    def __init__(self, **node_options):
        super().__init__("attnseg", **node_options)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default)
        # what the command line or a parameter file set that the node does not read (rclpy ignores it silently)
        unknown = sorted(set(getattr(self, "_parameter_overrides", {})) - set(PARAMETERS) - {"use_sim_time"})
        if unknown:
            self.get_logger().warning(f"unknown parameters ignored: {short_list(unknown)} (known: see "
                                      "config/attnseg.yaml or `python -m attnseg.integrations.ros_params`)")
        session, self.cfg = settings({name: self.get_parameter(name).value for name in PARAMETERS})
        cfg, reliable = self.cfg, self.cfg.reliability is Reliability.RELIABLE
        qos = qos_profile(reliable, cfg.qos_depth)
        self.labels_pub = self.create_publisher(Image, "labels", qos)
        self.carried_pub = self.create_publisher(Image, "carried_labels", qos) if session.runtime.carry else None
        self.overlay_pub = self.create_publisher(Image, "overlay", qos) if cfg.publish_overlay else None
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.bridge = SegmentationBridge(Session(session), self._publish, max_frame_age_s=cfg.max_frame_age,
                                         clock_ns=lambda: self.get_clock().now().nanoseconds)
        self.reported: dict | None = None  # the figures of the last /diagnostics message
        self.create_subscription(Image, "image", self._on_image, qos)
        self.diagnostics_timer = self.create_timer(cfg.diagnostics_period, self._diagnose)
        segmenter, (height, width) = self.bridge.session.segmenter, session.segment.resolution
        self.get_logger().info(
            f"attnseg ready: {segmenter.mode} {session.model.arch} on {segmenter.device}, {height}x{width}, "
            f"weights {segmenter.weights.source}, {'reliable' if reliable else 'best-effort'} QoS")

    def _on_image(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        try:
            self.bridge.on_image(msg.header, stamp, msg.height, msg.width, msg.encoding, msg.step, bytes(msg.data))
        except ValueError as err:
            self.get_logger().error(str(err), throttle_duration_sec=5.0)

    def _publish(self, header, frame) -> None:
        if not self.context.ok():  # shut down from outside while the last window was flushed
            return
        labels = image_message(header, label_image_fields(frame.mask, self.cfg.label_encoding))
        if frame.carried:  # moved by optical flow from the last segmented frame, not segmented
            self.carried_pub.publish(labels)
            return
        self.labels_pub.publish(labels)
        if self.overlay_pub is not None:
            self.overlay_pub.publish(image_message(header, rgb_image_fields(frame.overlay)))

    def _diagnose(self) -> None:
        stats = self.bridge.stats()
        status = latency_status(stats, name="attnseg: segmentation", hardware_id=self.get_name(),
                                budget_ms=self.cfg.latency_budget_ms, previous=self.reported)
        self.reported = stats
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [DiagnosticStatus(level=bytes([status["level"]]), name=status["name"],
                                       message=status["message"], hardware_id=status["hardware_id"],
                                       values=[KeyValue(key=k, value=v) for k, v in status["values"]])]
        self.diag_pub.publish(msg)

    def destroy_node(self) -> None:
        bridge = getattr(self, "bridge", None)  # absent when the constructor failed
        self.joined = bridge.close() if bridge else True  # the engine's thread ended
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`attnseg-ros2 [--ros-args ...]`: run the node until SIGINT; 2 and one log line when it cannot start."""
    reason = missing("rclpy", "sensor_msgs", "diagnostic_msgs", extra="ros2", names="ROS 2's rclpy and messages")
    if reason:
        print(f"attnseg-ros2: {reason}", file=sys.stderr)
        return 2
    profile = use_large_image_transport()
    # SIGINT and SIGTERM raise KeyboardInterrupt here, not in rclpy's handler (which would shut the context
    # down first): the frames already taken in are segmented and published, then ROS shuts down.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if profile:
        rclpy.logging.get_logger("attnseg").info(f"Fast DDS profile {profile}")
    node = None
    try:
        node = AttnsegNode()
        rclpy.spin(node)
    except (AttnsegError, ParameterException) as err:  # a bad parameter, missing weights, no such device
        rclpy.logging.get_logger("attnseg").fatal(f"cannot start: {err}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()  # the frames already taken in are segmented, the engine's thread joined
            rclpy.logging.get_logger("attnseg").info(
                f"stopped: {describe(node.bridge.stats())}; its thread "
                f"{'joined' if node.joined else 'still running after 30 s'}")
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
