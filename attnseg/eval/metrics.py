"""DAVIS region (J) and boundary (F) measures, and per-sequence statistics.

Definitions follow the DAVIS benchmark (Perazzi et al., CVPR 2016, as the
davis2017-evaluation toolkit computes them):
- J: |pred & gt| / |pred | gt| over non-void pixels; 1 when both are empty.
- F: each mask (void pixels removed) becomes a 1-pixel-wide boundary map: a
  pixel is on it when it differs from its east, south or south-east
  neighbour (last row: east only; last column: south only; the corner never).
  A boundary pixel is matched when the other mask's boundary has a pixel
  within a disk of radius r = ceil(0.008 x image diagonal) (x^2 + y^2 <= r^2).
  Precision = matched predicted / predicted, recall = matched true / true;
  F = 2PR / (P + R). No boundary in either: P = R = 1; only in the
  prediction: P = 0, R = 1; only in the truth: P = 1, R = 0.
- Statistics of a per-frame series: mean, recall (fraction of frames > 0.5)
  and decay (mean of the first of four temporal bins minus the last).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    gt, pred = gt.astype(bool), pred.astype(bool)
    keep = ~void.astype(bool) if void is not None else np.ones_like(gt)
    union = np.count_nonzero((gt | pred) & keep)
    return 1.0 if union == 0 else np.count_nonzero(gt & pred & keep) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel boundary of a binary mask, offset half a pixel towards the origin."""
    seg = mask.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    b[-1, :] = seg[-1, :] ^ east[-1, :]
    b[:, -1] = seg[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def tolerance_radius(shape: tuple[int, int], bound_th: float = BOUNDARY_TOLERANCE) -> int:
    """Radius in pixels: bound_th itself when >= 1, else ceil(bound_th x diagonal)."""
    return int(bound_th) if bound_th >= 1 else int(math.ceil(bound_th * math.hypot(*shape)))


def disk(radius: int) -> np.ndarray:
    """Structuring element {(y, x): x^2 + y^2 <= radius^2} as uint8."""
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def dilate(boundary: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(boundary.astype(np.uint8), disk(radius)).astype(bool)


def f_from_counts(matched_pred: int, n_pred: int, matched_gt: int, n_gt: int) -> float:
    if n_pred == 0 and n_gt == 0:
        precision = recall = 1.0
    elif n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision, recall = matched_pred / n_pred, matched_gt / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boundary_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
               bound_th: float = BOUNDARY_TOLERANCE) -> float:
    keep = ~void.astype(bool) if void is not None else np.ones(gt.shape, dtype=bool)
    gt_b = boundary_map(gt.astype(bool) & keep)
    pred_b = boundary_map(pred.astype(bool) & keep)
    radius = tolerance_radius(gt.shape, bound_th)
    return f_from_counts(np.count_nonzero(pred_b & dilate(gt_b, radius)), np.count_nonzero(pred_b),
                         np.count_nonzero(gt_b & dilate(pred_b, radius)), np.count_nonzero(gt_b))


def pairwise_scores(gt: np.ndarray, labels: np.ndarray, ids: list[int], void: np.ndarray | None = None,
                    bound_th: float = BOUNDARY_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every proposal id against every object, one frame.

    gt: (O, H, W) bool object masks; labels: (H, W) int label map; returns two
    (len(ids), O) arrays, equal to jaccard / boundary_f of each pair. Each
    boundary is dilated once, not once per pair.
    """
    keep = ~void.astype(bool) if void is not None else np.ones(labels.shape, dtype=bool)
    radius = tolerance_radius(labels.shape, bound_th)
    objects = gt.astype(bool) & keep
    gt_b = np.stack([boundary_map(o) for o in objects])
    gt_dil = np.stack([dilate(b, radius) for b in gt_b])
    gt_area = objects.reshape(len(objects), -1).sum(1)
    n_gt = gt_b.reshape(len(gt_b), -1).sum(1)
    j = np.zeros((len(ids), len(objects)))
    f = np.zeros((len(ids), len(objects)))
    for a, pid in enumerate(ids):
        mask = (labels == pid) & keep
        if not mask.any():  # absent from this frame: no boundary to dilate
            j[a] = gt_area == 0
            f[a] = [f_from_counts(0, 0, 0, n) for n in n_gt]
            continue
        inter = (objects & mask).reshape(len(objects), -1).sum(1)
        union = gt_area + np.count_nonzero(mask) - inter
        j[a] = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
        pred_b = boundary_map(mask)
        pred_dil = dilate(pred_b, radius)
        ys, xs = np.nonzero(pred_b)
        matched_pred = gt_dil[:, ys, xs].sum(1)
        matched_gt = (gt_b & pred_dil).reshape(len(gt_b), -1).sum(1)
        f[a] = [f_from_counts(matched_pred[o], len(ys), matched_gt[o], n_gt[o]) for o in range(len(objects))]
    return j, f


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall, decay) of a per-frame series, DAVIS style (NaN frames ignored)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(np.nanmean(values))
    recall = float(np.nanmean(values > 0.5))
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)  # DAVIS casts to uint8
    bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay
