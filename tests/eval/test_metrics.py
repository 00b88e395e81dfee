"""DAVIS J / F against hand-computed cases and an independent distance-transform formulation."""
import numpy as np
import pytest
from scipy import ndimage

from attnseg.eval.metrics import (boundary_f, boundary_map, disk, jaccard, pairwise_scores, statistics,
                                  tolerance_radius)


def rect(shape, y0, y1, x0, x1):
    m = np.zeros(shape, dtype=bool)
    m[y0:y1 + 1, x0:x1 + 1] = True
    return m


def test_jaccard_hand_cases():
    a = rect((50, 50), 0, 9, 0, 9)
    b = rect((50, 50), 5, 14, 0, 9)  # overlap 5 x 10 = 50, union 150
    assert jaccard(a, b) == pytest.approx(1 / 3)
    void = rect((50, 50), 10, 14, 0, 9)  # removes 50 pixels of b from the union
    assert jaccard(a, b, void) == pytest.approx(50 / 100)
    empty = np.zeros((50, 50), dtype=bool)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(a, empty) == 0.0


def test_boundary_map_is_the_ring_offset_towards_the_origin():
    m = rect((30, 40), 5, 14, 8, 27)
    ring = rect((30, 40), 4, 14, 7, 27) & ~rect((30, 40), 5, 13, 8, 26)
    assert np.array_equal(boundary_map(m), ring)
    assert boundary_map(m).sum() == 2 * 10 + 2 * 20  # 2h + 2w pixels


def test_tolerance_radius_is_davis_rounding():
    assert tolerance_radius((480, 854)) == 8  # ceil(0.008 * 979.6)
    assert tolerance_radius((100, 100)) == 2  # ceil(1.13)
    assert tolerance_radius((100, 100), bound_th=3) == 3


def test_boundary_f_hand_computed_shift():
    # 20 x 30 rectangle and the same shifted right by 5 > r = 2 pixels. Of the 100 ring pixels of the
    # prediction, 28 + 28 on the top and bottom rows lie within 2 of the truth's ring, plus 2 + 2 at the
    # ends of its left column: precision 60/100; by symmetry recall 60/100, so F = 0.6.
    gt = rect((100, 100), 20, 39, 20, 49)
    pred = rect((100, 100), 20, 39, 25, 54)
    assert boundary_f(gt, pred) == pytest.approx(0.6)
    assert jaccard(gt, pred) == pytest.approx(500 / 700)


def test_boundary_f_conventions():
    empty = np.zeros((60, 60), dtype=bool)
    square = rect((60, 60), 10, 20, 10, 20)
    assert boundary_f(square, square) == 1.0
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(square, empty) == 0.0  # P = 1, R = 0
    assert boundary_f(empty, square) == 0.0  # P = 0, R = 1
    assert boundary_f(square, rect((60, 60), 40, 50, 40, 50)) == 0.0  # far apart


def _f_by_distance_transform(gt, pred, radius):
    """Independent formulation: a boundary pixel matches when the Euclidean distance to the
    other boundary is <= radius (the disk x^2 + y^2 <= r^2)."""
    gb, pb = boundary_map(gt), boundary_map(pred)
    dist_to_g = ndimage.distance_transform_edt(~gb)
    dist_to_p = ndimage.distance_transform_edt(~pb)
    precision = (dist_to_g[pb] <= radius).mean()
    recall = (dist_to_p[gb] <= radius).mean()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(97, 131), (240, 427)])
def test_boundary_f_equals_distance_transform_formulation(seed, shape):
    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.standard_normal(shape), 6)
    gt = blobs > 0.02
    pred = ndimage.shift(blobs, (rng.integers(-4, 5), rng.integers(-4, 5)), order=0) > 0.0
    radius = tolerance_radius(shape)
    assert boundary_f(gt, pred) == pytest.approx(_f_by_distance_transform(gt, pred, radius), abs=1e-12)


def test_disk_matches_its_definition():
    d = disk(3)
    assert d.shape == (7, 7) and d[3, 0] == 1 and d[0, 0] == 0 and d.sum() == 29


def test_pairwise_scores_equal_the_single_pair_functions():
    rng = np.random.default_rng(0)
    labels = ndimage.zoom(rng.integers(0, 5, (6, 8)), 12, order=0)  # blocky 72 x 96 label map
    gt = np.stack([rect(labels.shape, 10, 40, 10, 50), rect(labels.shape, 30, 70, 60, 95)])
    void = rect(labels.shape, 0, 5, 0, 95)
    ids = [0, 1, 2, 3, 4, 7]  # 7 is absent
    j, f = pairwise_scores(gt, labels, ids, void)
    for a, pid in enumerate(ids):
        for o in range(2):
            assert j[a, o] == pytest.approx(jaccard(gt[o], labels == pid, void))
            assert f[a, o] == pytest.approx(boundary_f(gt[o], labels == pid, void))


def test_statistics_mean_recall_decay():
    mean, recall, decay = statistics(np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float))
    assert (mean, recall, decay) == (0.5, 0.5, 1.0)
    assert statistics(np.full(300, 0.7)) == pytest.approx((0.7, 1.0, 0.0))  # > 255 frames is fine
