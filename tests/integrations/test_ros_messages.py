"""sensor_msgs/Image fields as pure functions: round trips, padded rows, encodings, diagnostics."""
from __future__ import annotations

import numpy as np
import pytest

from attnseg.integrations.ros_messages import (Stamp, is_stale, label_image_fields, labels_from_fields,
                                               latency_status, rgb_from_fields, rgb_image_fields)


@pytest.mark.parametrize("encoding,high", [("mono16", 65535), ("32SC1", 2**31 - 1)])
def test_label_round_trip(encoding, high):
    labels = np.random.default_rng(0).integers(0, high, (13, 37), endpoint=True).astype(np.int64)
    fields = label_image_fields(labels, encoding)
    size = {"mono16": 2, "32SC1": 4}[encoding]
    assert (fields["height"], fields["width"], fields["step"]) == (13, 37, 37 * size)
    assert fields["encoding"] == encoding and fields["is_bigendian"] == 0 and fields["data"].dtype == np.uint8
    assert fields["data"].size == 13 * 37 * size
    back = labels_from_fields(**{k: fields[k] for k in ("height", "width", "encoding", "is_bigendian", "step")},
                              data=fields["data"].tobytes())
    assert back.dtype == np.int32 and np.array_equal(back, labels)


def test_mono16_is_little_endian_and_rows_are_unpadded():
    fields = label_image_fields(np.array([[1, 256]], dtype=np.int32))
    assert fields["data"].tolist() == [1, 0, 0, 1]


def test_padded_rows_and_big_endian_are_read():
    labels = np.arange(6, dtype=np.int32).reshape(2, 3) * 300
    rows = labels.astype(">u2").view(np.uint8).reshape(2, 6)
    padded = np.concatenate([rows, np.full((2, 4), 7, np.uint8)], axis=1)  # step 10, 4 bytes of padding
    back = labels_from_fields(2, 3, "mono16", 1, 10, padded.tobytes())
    assert np.array_equal(back, labels)


def test_ids_that_do_not_fit_are_refused_with_the_remedy():
    with pytest.raises(ValueError, match="use encoding 32SC1"):
        label_image_fields(np.array([[70000]]), "mono16")
    with pytest.raises(ValueError, match="mono16, 32SC1"):
        label_image_fields(np.zeros((2, 2), np.int32), "16UC1")
    with pytest.raises(ValueError, match="too short"):
        labels_from_fields(4, 4, "mono16", 0, 8, b"\0" * 10)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_camera_encodings_become_rgb(encoding):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    if encoding == "mono8":
        rgb[:] = rgb[:, :, :1]
        raw = rgb[:, :, 0]
    else:
        raw = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
        if encoding.endswith("a8"):
            raw = np.concatenate([raw, np.full((5, 7, 1), 255, np.uint8)], axis=2)
    channels = 1 if encoding == "mono8" else raw.shape[2]
    got = rgb_from_fields(5, 7, encoding, 7 * channels, np.ascontiguousarray(raw).tobytes())
    assert got.dtype == np.uint8 and np.array_equal(got, rgb)


def test_unsupported_camera_encoding_names_the_supported_ones():
    with pytest.raises(ValueError, match="bayer_rggb8.*rgb8"):
        rgb_from_fields(2, 2, "bayer_rggb8", 2, b"\0" * 4)


def test_overlay_fields():
    image = np.zeros((3, 4, 3), np.uint8)
    image[1, 2] = (1, 2, 3)
    fields = rgb_image_fields(image)
    assert fields["step"] == 12 and fields["encoding"] == "rgb8"
    assert np.array_equal(rgb_from_fields(3, 4, "rgb8", 12, fields["data"]), image)


def test_stamps_and_staleness():
    assert Stamp.from_ns(1_700_000_000_123_456_789) == Stamp(1_700_000_000, 123_456_789)
    assert is_stale(0, 600_000_000, 0.5) and not is_stale(0, 400_000_000, 0.5) and not is_stale(0, 10**12, 0)


def test_latency_diagnostics_levels():
    stats = {"latency_ms": {"p50": 40.0, "p95": 80.0, "p99": 120.0}, "fps": 20.0, "frames_in": 10,
             "frames_processed": 9, "frames_dropped": 1, "ended_by": "running", "end_reason": "running"}
    ok = latency_status(stats, budget_ms=200)
    assert ok["level"] == 0 and ("latency_p99_ms", "120.0") in ok["values"] and ("frames_dropped", "1") in ok["values"]
    assert latency_status(stats, budget_ms=100)["level"] == 1
    assert latency_status({**stats, "ended_by": "error in front-end", "end_reason": "error"})["level"] == 2
    assert latency_status({"latency_ms": {"p50": None, "p95": None, "p99": None}})["level"] == 0


def test_stale_frames_since_the_last_report_warn_and_all_stale_is_an_error():
    stats = {"latency_ms": {"p99": 50.0}, "frames_received": 10, "frames_in": 10, "frames_processed": 10,
             "frames_dropped": 0, "frames_stale": 0, "end_reason": "running"}
    later = {**stats, "frames_received": 17, "frames_in": 14, "frames_processed": 14, "frames_stale": 3}
    warn = latency_status(later, budget_ms=200, previous=stats)
    assert warn["level"] == 1 and warn["message"] == "3 of 7 frames since the last report were stale"
    all_stale = {**later, "frames_received": 23, "frames_stale": 9}  # 6 more, all stale
    error = latency_status(all_stale, budget_ms=200, previous=later)
    assert error["level"] == 2 and "all 6 frames" in error["message"] and ("frames_stale", "9") in error["values"]
    assert latency_status(all_stale, budget_ms=200, previous=all_stale)["level"] == 0  # nothing new: no verdict
