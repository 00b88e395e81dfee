"""rosbag2 output without ROS: label maps (and overlays) as sensor_msgs/msg/Image, through `rosbags`.

    with RosbagSink("run.bag", topic="/attnseg/labels") as bag:
        bag.write(stamp_ns, labels)                # (H, W) ids, mono16 by default
    for stamp_ns, frame_id, labels in read_label_bag("run.bag"): ...

The bag (a folder: metadata.yaml + one storage file) is written under a
temporary name beside PATH and renamed to PATH when closed, also after an
error: the frames written so far are kept, and PATH never names a half-built
bag. An existing PATH is refused, as `ros2 bag record` does. Bags are rosbag2
format version 8 (ROS 2 Jazzy and later read it; sqlite3 or mcap storage).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependency, OutputError, SettingError
from ..optional import missing
from ..settings import RosbagSettings
from .ros_messages import Stamp, label_image_fields, labels_from_fields, rgb_image_fields

BAG = RosbagSettings()  # the defaults (attnseg.settings)

IMAGE = "sensor_msgs/msg/Image"
BAG_VERSION = 8


def available() -> str | None:
    return missing("rosbags", extra="ros", names="the rosbags package")


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_JAZZY)


class RosbagSink:
    def __init__(self, path: str | Path, *, topic: str = BAG.topic, overlay_topic: str | None = None,
                 frame_id: str = BAG.frame_id, encoding: str = BAG.encoding, storage: str = BAG.storage):
        reason = available()
        if reason:
            raise MissingDependency(f"cannot write a rosbag: {reason}")
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
        if storage not in plugins:
            raise SettingError(f"rosbag storage must be one of {', '.join(plugins)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise OutputError(f"rosbag {self.path} already exists; remove it or choose another path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the storage file is named after the bag's folder, so the folder is built under its own name
        self.staging = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        self.partial = self.staging / self.path.name
        self.frame_id, self.encoding, self.messages = frame_id, encoding, 0
        self.types = _typestore()
        self.writer = Writer(self.partial, version=BAG_VERSION, storage_plugin=plugins[storage])
        self.writer.open()
        self.labels = self.writer.add_connection(topic, IMAGE, typestore=self.types)
        self.overlays = self.writer.add_connection(overlay_topic, IMAGE, typestore=self.types) if overlay_topic \
            else None

    def write(self, stamp_ns: int, labels: np.ndarray, overlay: np.ndarray | None = None) -> None:
        """One frame: its label map at `stamp_ns` (header stamp = bag time), and its overlay if asked."""
        if self.writer is None:
            raise OutputError(f"rosbag {self.path} is closed")
        self._put(self.labels, stamp_ns, label_image_fields(labels, self.encoding))
        if self.overlays is not None and overlay is not None:
            self._put(self.overlays, stamp_ns, rgb_image_fields(overlay))
        self.messages += 1

    def _put(self, connection, stamp_ns: int, fields: dict) -> None:
        t = self.types.types
        stamp = Stamp.from_ns(stamp_ns)
        header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=stamp.sec,
                                                                                  nanosec=stamp.nanosec),
                                          frame_id=self.frame_id)
        msg = t[IMAGE](header=header, **fields)
        self.writer.write(connection, int(stamp_ns), self.types.serialize_cdr(msg, IMAGE))

    def close(self) -> None:
        """Finish the bag and move it to its name (idempotent)."""
        if self.writer is None:
            return
        writer, self.writer = self.writer, None
        writer.close()
        os.replace(self.partial, self.path)
        self.staging.rmdir()

    def __enter__(self) -> RosbagSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_images(path: str | Path, topic: str) -> list[tuple[int, str, dict]]:
    """(bag time ns, header frame_id, Image fields) per sensor_msgs/Image message on `topic`, in time order."""
    reason = available()
    if reason:
        raise MissingDependency(f"cannot read a rosbag: {reason}")
    from rosbags.rosbag2 import Reader

    types = _typestore()
    out = []
    with Reader(Path(path)) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise InputError(f"{path} has no topic {topic} (topics: {', '.join(sorted(reader.topics))})")
        for connection, timestamp, raw in reader.messages(connections=connections):
            msg = types.deserialize_cdr(raw, connection.msgtype)
            fields = {k: getattr(msg, k) for k in ("height", "width", "encoding", "is_bigendian", "step", "data")}
            out.append((timestamp, msg.header.frame_id, fields))
    return out


def read_label_bag(path: str | Path, topic: str = "/attnseg/labels") -> list[tuple[int, str, np.ndarray]]:
    """(bag time ns, header frame_id, (H, W) int32 labels) per message on `topic`, in time order."""
    return [(t, frame, labels_from_fields(**fields)) for t, frame, fields in read_images(path, topic)]
