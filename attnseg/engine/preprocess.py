"""Frames -> normalized network input (SPEC 2).

RGB uint8 -> float in [0, 1] -> bilinear resize (OpenCV INTER_LINEAR) straight
to (H, W), aspect ratio NOT kept, no crop -> per-channel normalization.
Inference uses the Kinetics-400 statistics; training used ImageNet's.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..settings import NORMALIZATION, PAPER, Normalization


def normalization(name: Normalization | str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the statistics `name`; a SettingError naming the valid ones (attnseg.settings)."""
    return NORMALIZATION[Normalization.parse(name)]


def preprocess(frames: np.ndarray | Sequence[np.ndarray], size: tuple[int, int], norm: str = PAPER.normalization
               ) -> torch.Tensor:
    """(T, H0, W0, 3) uint8 RGB (an array, or a sequence of frames) -> (T, 3, H, W) float32 normalized."""
    import cv2

    height, width = size
    mean, std = (np.asarray(v, dtype=np.float32) for v in normalization(norm))
    out = np.empty((len(frames), height, width, 3), dtype=np.float32)
    for i, frame in enumerate(frames):
        # float64 like the authors' loader (/255 then resize), stored as float32 as they feed it
        out[i] = cv2.resize(frame / 255.0, (width, height), interpolation=cv2.INTER_LINEAR)
    out = (out - mean) / std
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
