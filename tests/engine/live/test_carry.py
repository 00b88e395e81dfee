"""Carried labels made when first asked for (attnseg.engine.live.carry): the same maps as moving the full-size
label map, read off the patch labels without upsampling them first."""
import numpy as np
import pytest

from attnseg.engine.live.carry import CARRY_STRIDE, Carrier
from attnseg.engine.masks import sample_grid, upsample_labels

cv2 = pytest.importorskip("cv2")


def moved_full_size(before, after, labels):
    """The carried map as moving the full-size labels (the flow from `after` to `before`, every CARRY_STRIDE-th
    small pixel reading the label where it came from)."""
    carrier = Carrier()
    small, grey = carrier.small_grey(after), carrier.small_grey(before)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST).calc(small, grey, None)
    h, w = small.shape
    big_h, big_w = labels.shape
    ys, xs = np.mgrid[0:h:CARRY_STRIDE, 0:w:CARRY_STRIDE].astype(np.float32)
    flow = flow[::CARRY_STRIDE, ::CARRY_STRIDE]
    src_y = np.clip(((ys + flow[..., 1] + 0.5) * (big_h / h)).astype(np.int64), 0, big_h - 1)
    src_x = np.clip(((xs + flow[..., 0] + 0.5) * (big_w / w)).astype(np.int64), 0, big_w - 1)
    return labels[src_y, src_x]


def test_carried_maps_equal_moving_the_full_size_labels():
    rng = np.random.default_rng(0)
    before = cv2.GaussianBlur(rng.integers(0, 256, (120, 170, 3), dtype=np.uint8), (9, 9), 3)
    after = np.roll(before, (3, 5), axis=(0, 1))
    patch = rng.integers(0, 5, (8, 11)).astype(np.int32)
    carrier = Carrier()
    carrier.segmented(before, patch)
    maps = carrier.later(after)
    assert not maps.made  # nothing computed until asked
    expected = moved_full_size(before, after, upsample_labels(patch[None], before.shape[:2])[0])
    np.testing.assert_array_equal(maps.grid, expected)
    np.testing.assert_array_equal(maps.mask, upsample_labels(expected[None], before.shape[:2])[0])
    np.testing.assert_array_equal(maps.labels, sample_grid(maps.mask, patch.shape))
    assert maps.mask.dtype == maps.labels.dtype == maps.grid.dtype == np.int32


def test_nothing_to_carry_from():
    carrier = Carrier()
    frame = np.zeros((40, 56, 3), np.uint8)
    assert carrier.later(frame) is None  # nothing segmented yet
    carrier.segmented(frame, np.zeros((2, 3), np.int32))
    assert carrier.later(np.zeros((48, 56, 3), np.uint8)) is None  # another size
