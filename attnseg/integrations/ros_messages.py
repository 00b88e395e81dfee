"""sensor_msgs/Image <-> numpy, as pure functions: no ROS import, so they are tested anywhere.

The fields of a sensor_msgs/Image (height, width, encoding, is_bigendian, step,
data) are built here as a plain dict; the ROS 2 node (ros_node.py), the
rosbag2 writer and any other stack fill their own message class from it.

Label maps go out as `mono16` (ids 0..65535, the default: viewable by rqt and
image tools) or `32SC1` (any int32 id); both little-endian, rows unpadded.
Incoming camera images are read from rgb8, bgr8, rgba8, bgra8 or mono8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, SettingError
from ..settings import EndReason

LABEL_ENCODINGS = {"mono16": np.dtype("<u2"), "32SC1": np.dtype("<i4")}
_COLOUR = {"rgb8": (3, None), "bgr8": (3, [2, 1, 0]), "rgba8": (4, [0, 1, 2]), "bgra8": (4, [2, 1, 0]),
           "mono8": (1, None)}  # channels, and which of them are R, G, B


@dataclass(frozen=True)
class Stamp:
    """builtin_interfaces/Time: seconds and nanoseconds (0 <= nanosec < 1e9)."""
    sec: int
    nanosec: int

    @classmethod
    def from_ns(cls, ns: int) -> Stamp:
        sec, nanosec = divmod(int(ns), 1_000_000_000)
        return cls(sec, nanosec)


def label_image_fields(labels: np.ndarray, encoding: str = "mono16") -> dict:
    """(H, W) integer track ids -> the Image fields (data: uint8 array, no copy when already in layout)."""
    if encoding not in LABEL_ENCODINGS:
        raise SettingError(f"label encoding must be one of {', '.join(LABEL_ENCODINGS)}, got {encoding!r}")
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise InputError(f"a label map is (H, W) integers, got {labels.dtype} {labels.shape}")
    dtype = LABEL_ENCODINGS[encoding]
    if labels.size and (labels.min() < np.iinfo(dtype).min or labels.max() > np.iinfo(dtype).max):
        raise InputError(f"ids {labels.min()}..{labels.max()} do not fit {encoding}; use encoding 32SC1")
    pixels = np.ascontiguousarray(labels, dtype=dtype)
    return {"height": labels.shape[0], "width": labels.shape[1], "encoding": encoding, "is_bigendian": 0,
            "step": labels.shape[1] * dtype.itemsize, "data": pixels.reshape(-1).view(np.uint8)}


def rgb_image_fields(image: np.ndarray) -> dict:
    """(H, W, 3) uint8 RGB (an overlay) -> rgb8 Image fields."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"an rgb8 image is (H, W, 3) uint8, got {image.dtype} {image.shape}")
    pixels = np.ascontiguousarray(image)
    return {"height": image.shape[0], "width": image.shape[1], "encoding": "rgb8", "is_bigendian": 0,
            "step": image.shape[1] * 3, "data": pixels.reshape(-1)}


def _rows(height: int, width: int, step: int, data, itemsize: int, channels: int) -> np.ndarray:
    """The (H, W * channels * itemsize) bytes of an Image, rows cut out of `step`-long padded rows."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    row = width * channels * itemsize
    if step < row or raw.size < step * height:
        raise InputError(f"image data too short: {raw.size} bytes for {height} rows of step {step} "
                         f"(a row needs {row})")
    return raw[:step * height].reshape(height, step)[:, :row]


def labels_from_fields(height: int, width: int, encoding: str, is_bigendian: int, step: int, data) -> np.ndarray:
    """The inverse of label_image_fields: an Image's fields -> (H, W) int32 ids."""
    if encoding not in LABEL_ENCODINGS:
        raise InputError(f"not a label image: encoding {encoding!r} (expected {', '.join(LABEL_ENCODINGS)})")
    dtype = LABEL_ENCODINGS[encoding].newbyteorder(">" if is_bigendian else "<")
    rows = _rows(height, width, step, data, dtype.itemsize, 1)
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width).astype(np.int32)


def rgb_from_fields(height: int, width: int, encoding: str, step: int, data) -> np.ndarray:
    """A camera Image's fields -> (H, W, 3) uint8 RGB, the engine's frame format."""
    if encoding not in _COLOUR:
        raise InputError(f"camera encoding {encoding!r} is not supported; publish one of {', '.join(_COLOUR)} "
                         f"(e.g. through image_proc for Bayer or 16-bit images)")
    channels, order = _COLOUR[encoding]
    pixels = _rows(height, width, step, data, 1, channels).reshape(height, width, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, order] if order else pixels)


def is_stale(stamp_ns: int, now_ns: int, max_age_s: float) -> bool:
    """A frame older than max_age_s (by its header stamp) is dropped; 0 disables the check."""
    return max_age_s > 0 and now_ns - stamp_ns > max_age_s * 1e9


def latency_status(stats: dict, *, name: str = "attnseg", hardware_id: str = "", budget_ms: float = 1000.0,
                   previous: dict | None = None) -> dict:
    """diagnostic_msgs/DiagnosticStatus fields from SegmentationBridge.stats() (StreamStats.to_dict() and the
    stale count); `previous` is the figures of the last report, so "since the last report" can be said.

    level 2 (ERROR): the stream ended by an error, or every frame received since the last report was stale
    (older than max_frame_age: nothing can be segmented; check the camera's clock against this node's);
    level 1 (WARN): latency p99 (header stamp to published) over the budget, or some frames since the last report were stale;
    level 0 (OK) otherwise. Frames superseded while the engine is busy are the drop-oldest policy at work,
    not a fault: they are counted in the values, and the latency says whether the engine keeps up.
    values are (key, value) strings.
    """
    lat = stats.get("publish_latency_ms") or stats.get("latency_ms", {})  # header stamp to published, when known
    p99 = lat.get("p99")
    before = previous or {}
    stale = stats.get("frames_stale", 0) - before.get("frames_stale", 0)
    received = stats.get("frames_received", 0) - before.get("frames_received", 0)
    if stats.get("end_reason") == EndReason.ERROR:
        level, message = 2, stats["ended_by"]
    elif stale and stale == received:
        level, message = 2, f"all {stale} frames since the last report were stale (older than max_frame_age)"
    elif p99 is not None and p99 > budget_ms:
        level, message = 1, f"latency p99 {p99:.0f} ms over the {budget_ms:.0f} ms budget"
    elif stale:
        level, message = 1, f"{stale} of {received} frames since the last report were stale"
    else:
        level, message = 0, "ok"
    values = [(f"latency_{k}_ms", f"{v:.1f}") for k, v in lat.items() if v is not None]
    values += [(f"mask_latency_{k}_ms", f"{v:.1f}") for k, v in stats.get("mask_latency_ms", {}).items()
               if v is not None]
    values += [(k, str(stats[k])) for k in ("fps", "frames_received", "frames_in", "frames_processed", "frames_carried",
                                         "frames_dropped", "frames_stale")
               if k in stats]
    return {"level": level, "name": name, "message": message, "hardware_id": hardware_id, "values": values}
