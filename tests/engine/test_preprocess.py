"""Preprocessing against SPEC 2, with the reference written from the SPEC alone (not from the code):
RGB uint8 -> /255 in float64 -> bilinear resize straight to (H, W) (OpenCV INTER_LINEAR: half-pixel centres,
edge pixels replicated, aspect ratio not kept, no crop) -> (x - mean) / std per channel, stored as float32."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attnseg.engine.preprocess import preprocess
from tests.conftest import davis_frames

# SPEC 2, copied from the SPEC's text: the Kinetics-400 statistics fed at inference, ImageNet's at training
KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _taps(out_len: int, in_len: int) -> list[tuple[int, int, float]]:
    """Source pixels and weight of each output pixel along one axis: x = (i + 0.5) * in / out - 0.5."""
    taps = []
    for i in range(out_len):
        x = (i + 0.5) * in_len / out_len - 0.5
        x0 = math.floor(x)
        frac = x - x0
        if x0 < 0:  # left of the first centre: the edge pixel
            x0, frac = 0, 0.0
        if x0 >= in_len - 1:  # right of the last centre: the edge pixel
            x0, frac = in_len - 1, 0.0
        taps.append((x0, min(x0 + 1, in_len - 1), frac))
    return taps


def bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H0, W0, C) float64 -> (height, width, C), rows then columns."""
    rows = np.stack([(1 - f) * image[a] + f * image[b] for a, b, f in _taps(height, image.shape[0])])
    return np.stack([(1 - f) * rows[:, a] + f * rows[:, b] for a, b, f in _taps(width, image.shape[1])], axis=1)


def reference(frames: np.ndarray, size: tuple[int, int], stats=KINETICS) -> np.ndarray:
    """(T, H0, W0, 3) uint8 RGB -> (T, 3, H, W), SPEC 2 step by step."""
    mean, std = (np.asarray(v, dtype=np.float64) for v in stats)
    out = [(bilinear(f / 255.0, *size) - mean) / std for f in frames]
    return np.stack(out).astype(np.float32).transpose(0, 3, 1, 2)


def frames_with_distinct_channels(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random frames whose three channels live in different ranges: a swapped channel order cannot hide."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(count, height, width, 3))
    frames[..., 0] = frames[..., 0] // 4 + 190  # red high
    frames[..., 2] = frames[..., 2] // 4  # blue low
    return frames.astype(np.uint8)


# float32 storage and OpenCV's float32 interpolation weights: ~1e-7 of a [0, 1] pixel, over std ~0.22
TOLERANCE = 2e-6


@pytest.mark.parametrize("source,size", [((37, 53), (16, 24)), ((37, 53), (64, 96)), ((48, 48), (32, 80))])
def test_preprocess_is_spec_2(source, size):
    """Down, up, and a squashed aspect ratio: every value as SPEC 2 computes it, in RGB order."""
    frames = frames_with_distinct_channels(2, *source)
    got = preprocess(frames, size).numpy()
    assert got.shape == (2, 3, *size) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(frames, size), rtol=0, atol=TOLERANCE)


def test_the_statistics_are_a_setting():
    frames = frames_with_distinct_channels(1, 20, 30, seed=1)
    got = preprocess(frames, (16, 24), "imagenet").numpy()
    np.testing.assert_allclose(got, reference(frames, (16, 24), IMAGENET), rtol=0, atol=TOLERANCE)
    assert not np.allclose(got, reference(frames, (16, 24), KINETICS), atol=1e-3)  # the two differ visibly


def test_a_davis_frame_at_the_papers_resolution():
    """A real 854x480 frame squashed to 480x320, as the authors' evaluation feeds it."""
    import cv2

    path = sorted(davis_frames("blackswan").glob("*.jpg"))[0]
    frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[None]
    np.testing.assert_allclose(preprocess(frame, (320, 480)).numpy(), reference(frame, (320, 480)),
                               rtol=0, atol=TOLERANCE)
