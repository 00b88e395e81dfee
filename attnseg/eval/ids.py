"""Id scores of tracked label maps against a reference (the offline result, or known ids).

- `id_agreement`: ids matched one to one over the WHOLE clip (Hungarian on
  clip-level IoU), then the mean IoU of the reference's objects with their
  match (0 for an object left unmatched). One matching for the clip means an
  object whose id changes mid-clip is penalized, as it should be.
- `id_switches`: for each reference object, the predicted id covering most of
  it in each frame where it is present; every change of that id between two
  consecutive presences is a switch. Reported per 100 frames.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError


def _overlaps(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    r_ids, r_inv = np.unique(ref, return_inverse=True)
    inter = np.zeros((len(r_ids), len(p_ids)), dtype=np.int64)
    np.add.at(inter, (r_inv.ravel(), p_inv.ravel()), 1)
    return r_ids, p_ids, inter


def id_agreement(pred: np.ndarray, ref: np.ndarray, ignore: int | None = None) -> dict:
    """{"mean_iou", "matches": {ref id: (pred id, IoU)}} over the whole clip; `ignore`: a ref id to skip."""
    from scipy.optimize import linear_sum_assignment

    if pred.shape != ref.shape:
        raise InputError(f"label maps differ in shape: {pred.shape} vs {ref.shape}")
    r_ids, p_ids, inter = _overlaps(pred, ref)
    union = inter.sum(1, keepdims=True) + inter.sum(0, keepdims=True) - inter
    iou = inter / np.maximum(union, 1)
    rows, cols = linear_sum_assignment(-iou)
    matched = {int(r_ids[r]): (int(p_ids[c]), float(iou[r, c])) for r, c in zip(rows, cols)}
    objects = [int(r) for r in r_ids if r != ignore]
    scores = [matched.get(r, (None, 0.0))[1] for r in objects]
    return {"mean_iou": float(np.mean(scores)) if scores else 1.0, "objects": len(objects),
            "matches": {r: matched[r] for r in objects if r in matched}}


def id_switches(pred: np.ndarray, ref: np.ndarray, ignore: int | None = None) -> dict:
    """{"switches", "per_100_frames"}: changes of the id covering each reference object, frame to frame."""
    switches = 0
    for obj in np.unique(ref):
        if obj == ignore:
            continue
        previous = None
        for t in range(ref.shape[0]):
            inside = pred[t][ref[t] == obj]
            if inside.size == 0:
                continue
            ids, counts = np.unique(inside, return_counts=True)
            current = ids[np.argmax(counts)]
            if previous is not None and current != previous:
                switches += 1
            previous = current
    return {"switches": switches, "per_100_frames": 100.0 * switches / max(1, ref.shape[0])}
