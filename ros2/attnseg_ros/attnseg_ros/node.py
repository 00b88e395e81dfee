"""The attnseg ROS 2 node: sensor_msgs/Image in, label maps (and an overlay) out, latency on /diagnostics.

    ros2 run attnseg_ros attnseg_node --ros-args -r image:=/camera/image_raw -p checkpoint:=/path/ckpt.pth

Subscribes `image`; publishes `labels` (mono16 or 32SC1 track ids, the input's size), `overlay` (rgb8, when
publish_overlay) with the input's header (stamp and frame_id), and diagnostic_msgs/DiagnosticArray on
/diagnostics. QoS: sensor data (best effort, depth 1) unless `reliability` says reliable. The work is
attnseg.integrations.ros_bridge.SegmentationBridge; messages are filled from attnseg.integrations.ros_messages.
UNVERIFIED here: rclpy cannot be installed on the machines this was written on; see the README.
"""
from __future__ import annotations

import array

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from attnseg.engine import SegmentConfig, Segmenter, StreamConfig
from attnseg.engine.outputs import overlay
from attnseg.integrations.ros_bridge import SegmentationBridge
from attnseg.integrations.ros_messages import label_image_fields, latency_status, rgb_image_fields

from .params import PARAMETERS, settings


def image_message(header, fields: dict) -> Image:
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = fields["height"], fields["width"], fields["encoding"]
    msg.is_bigendian, msg.step = fields["is_bigendian"], fields["step"]
    msg.data = array.array("B", fields["data"].tobytes())  # the fast path of the generated setter
    return msg


class AttnsegNode(Node):
    def __init__(self, **node_options):
        super().__init__("attnseg", **node_options)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default)
        cfg = settings({name: self.get_parameter(name).value for name in PARAMETERS})
        self.cfg = cfg
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.qos_depth,
                         reliability=ReliabilityPolicy.RELIABLE if cfg.reliable else ReliabilityPolicy.BEST_EFFORT,
                         durability=qos_profile_sensor_data.durability)
        self.labels_pub = self.create_publisher(Image, "labels", qos)
        self.overlay_pub = self.create_publisher(Image, "overlay", qos) if cfg.publish_overlay else None
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        segmenter = Segmenter.from_checkpoint(config=SegmentConfig(**cfg.segment), **cfg.model)
        self.get_logger().info(f"attnseg {segmenter.mode} on {segmenter.device}, {cfg.segment['resolution']}")
        self.bridge = SegmentationBridge(segmenter, StreamConfig(**cfg.stream), self._publish,
                                         max_frame_age_s=cfg.max_frame_age,
                                         clock_ns=lambda: self.get_clock().now().nanoseconds)
        self.create_subscription(Image, "image", self._on_image, qos)
        self.create_timer(cfg.diagnostics_period, self._diagnose)

    def _on_image(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        try:
            self.bridge.on_image(msg.header, stamp, msg.height, msg.width, msg.encoding, msg.step, bytes(msg.data))
        except ValueError as err:
            self.get_logger().error(str(err), throttle_duration_sec=5.0)

    def _publish(self, header, result) -> None:
        self.labels_pub.publish(image_message(header, label_image_fields(result.labels, self.cfg.label_encoding)))
        if self.overlay_pub is not None:
            self.overlay_pub.publish(image_message(header, rgb_image_fields(overlay(result.image, result.labels))))

    def _diagnose(self) -> None:
        status = latency_status(self.bridge.stats(), name="attnseg: segmentation", hardware_id=self.get_name(),
                                budget_ms=self.cfg.latency_budget_ms)
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [DiagnosticStatus(level=bytes([status["level"]]), name=status["name"],
                                       message=status["message"], hardware_id=status["hardware_id"],
                                       values=[KeyValue(key=k, value=v) for k, v in status["values"]])]
        self.diag_pub.publish(msg)

    def destroy_node(self) -> None:
        self.bridge.close()
        super().destroy_node()


def main(args=None) -> None:
    rclpy.init(args=args)
    node = AttnsegNode()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
