"""The page work from grid labels equals the same work on the full-size label map."""
from __future__ import annotations

import numpy as np
import pytest

from attnseg.engine.drawing import boundary, colour_of, overlay
from attnseg.engine.masks import upsample_labels
from attnseg.view.render import layout, objects, render


def blocky(grid: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 60, (max(1, grid[0] // 3), max(1, grid[1] // 3)))
    g = np.repeat(np.repeat(coarse, 3, axis=0), 3, axis=1)
    g = np.pad(g, ((0, grid[0] - g.shape[0]), (0, grid[1] - g.shape[1])), mode="edge")
    return (g * 1000 + 7).astype(np.int32)  # large ids: as many tracks later in a stream


@pytest.mark.parametrize("grid,size", [((10, 15), (480, 854)), ((30, 53), (480, 854)), ((135, 240), (480, 854)),
                                       ((7, 9), (61, 83))])
def test_objects_are_exact_and_the_overlay_is_the_full_map_s(grid, size):
    g = blocky(grid)
    full = upsample_labels(g[None], size)[0]
    lay = layout(grid, size)
    found = objects(g, lay)
    ids, counts = np.unique(full, return_counts=True)
    assert [o["id"] for o in found] == ids.tolist()
    assert np.allclose([o["area"] for o in found], counts / full.size, rtol=0, atol=1e-12)
    for o in found:
        ys, xs = np.nonzero(full == o["id"])
        assert abs(xs.mean() - o["x"]) < 1e-6 and abs(ys.mean() - o["y"]) < 1e-6
    image = np.random.default_rng(1).integers(0, 255, (*size, 3), dtype=np.uint8)
    out = render(image, g, lay, 0.5, None, shown=[])
    edge = boundary(full)
    assert (out[edge] == 0).all()  # the boundaries of the full map, exactly
    reference = overlay(image, full)  # float blend, truncated: within 1 of the uint8 blend
    assert np.abs(out[~edge].astype(int) - reference[~edge].astype(int)).max() <= 1
    bgr = render(image[..., ::-1].copy(), g, lay, 0.5, None, shown=[], bgr=True)
    assert np.array_equal(bgr[..., ::-1], out)


def test_following_blends_only_the_followed_object_and_outlines_it():
    grid, size = (10, 15), (160, 240)
    g = blocky(grid)
    lay = layout(grid, size)
    followed = int(g[4, 4])
    image = np.full((*size, 3), 100, dtype=np.uint8)
    out = render(image, g, lay, 1.0, followed, shown=[])
    mask = upsample_labels(g[None], size)[0] == followed
    inside = mask & ~boundary(mask)
    assert (out[inside] == colour_of(followed)).all() and (out[~mask & ~boundary(mask)] == 100).all()
    assert (out[boundary(mask)] == 255).all()
