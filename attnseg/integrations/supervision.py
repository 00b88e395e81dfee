"""Segmented frames as supervision's `sv.Detections`, for its annotators, zones, trackers and sinks.

    import supervision as sv
    from attnseg.integrations.supervision import to_detections

    for frame in seg.iter_video("clip.mp4"):          # offline (FrameResult), or a stream's StreamResult,
        detections = to_detections(frame)           # or an OutputFrame, or an (H, W) int label map
        detections.tracker_id, detections.xyxy, detections.mask, detections.data["area"]

One detection per object id in the frame, in increasing id order:
- `mask` (N, H, W) bool at the frame's size, `xyxy` (N, 4) float32 its tight box (inclusive pixel corners,
  as `sv.mask_to_xyxy` gives them);
- `tracker_id` the object's attnseg id (persistent across the video or the stream), `class_id` 0 for all
  (the method finds objects, not classes; data["class_name"] is "object");
- `data["area"]` its pixel count, `data["carried"]` True when the frame's labels were carried by optical
  flow from the last segmented frame instead of segmented (a stream under `carry`), the same for every
  detection of the frame; `metadata` holds the frame's index, name and "carried".
`confidence` is None: the clustering gives no score.

Needs supervision (`pip install 'attnseg[sv]'`), imported when called.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, MissingDependency
from ..optional import missing

CLASS_NAME = "object"


def available() -> str | None:
    return missing("supervision", extra="sv")


def _sv():
    reason = available()
    if reason:
        raise MissingDependency(f"cannot build supervision Detections: {reason}")
    import supervision

    return supervision


def frame_fields(frame: Any) -> tuple[np.ndarray, int | None, str, bool]:
    """(label map at the frame's size, index, name, carried) of any segmented frame attnseg hands out."""
    if isinstance(frame, np.ndarray):
        return frame, None, "", False
    if hasattr(frame, "mask"):  # FrameResult (offline), StreamResult (live), OutputFrame: `mask` is the frame's size
        index = frame.frame_id if hasattr(frame, "frame_id") else frame.index
        return frame.mask, index, frame.name, bool(getattr(frame, "carried", False))
    raise InputError(f"cannot make Detections of a {type(frame).__name__}: give a FrameResult, StreamResult, "
                     "OutputFrame or (H, W) label map")


def boxes_and_areas(label_map: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each id's tight box (x0, y0, x1, y1: inclusive pixel corners) and pixel count, in one pass per axis."""
    height, width = label_map.shape
    n = len(ids)
    index = np.searchsorted(ids, label_map)  # every pixel's row among ids (ids: the sorted unique labels)
    areas = np.bincount(index.ravel(), minlength=n)
    rows = np.zeros((n, height), dtype=bool)
    cols = np.zeros((n, width), dtype=bool)
    rows[index, np.arange(height)[:, None]] = True
    cols[index, np.arange(width)[None, :]] = True
    boxes = np.empty((n, 4), dtype=np.float32)
    boxes[:, 0] = cols.argmax(axis=1)
    boxes[:, 1] = rows.argmax(axis=1)
    boxes[:, 2] = width - 1 - cols[:, ::-1].argmax(axis=1)
    boxes[:, 3] = height - 1 - rows[:, ::-1].argmax(axis=1)
    return boxes, areas


def to_detections(frame: Any, *, min_area: int = 0):
    """`frame` as an sv.Detections, one detection per object id present (those of at least `min_area` pixels)."""
    sv = _sv()
    label_map, index, name, carried = frame_fields(frame)
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise InputError(f"a label map is (H, W), got shape {label_map.shape}")
    ids = np.unique(label_map)
    boxes, areas = boxes_and_areas(label_map, ids)
    keep = areas >= min_area
    ids, boxes, areas = ids[keep], boxes[keep], areas[keep]
    n = len(ids)
    return sv.Detections(
        xyxy=boxes, mask=label_map[None] == ids[:, None, None], class_id=np.zeros(n, dtype=int),
        tracker_id=ids.astype(int),
        data={"area": areas.astype(np.int64), "carried": np.full(n, carried), "class_name": np.full(n, CLASS_NAME)},
        metadata={"index": index, "name": name, "carried": carried})
