"""The page work from grid labels equals the same work on the full-size label map."""
from __future__ import annotations

import numpy as np
import pytest

from attnseg.engine.masks import upsample_labels
from attnseg.engine.outputs.drawing import colour_of, davis_palette, layout, objects, overlay, render


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels whose lower or right neighbour has another label, on the full map."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:-1] |= mask[:-1] != mask[1:]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    return edge


def full_map_overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The overlay drawn pixel by pixel on the full-size map: half the frame and half the id's colour in floating
    point, truncated, and the boundaries dark (how --overlay videos were drawn before there was one drawer)."""
    out = (image * 0.5 + davis_palette()[(mask % 255) + 1] * 0.5).astype(np.uint8)
    out[boundary(mask)] = 0
    return out


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
    reference = full_map_overlay(image, full)  # the same pixels, drawn on the full map in floating point
    assert np.array_equal(out, reference)
    assert np.array_equal(overlay(image, g), reference) and np.array_equal(overlay(image, full), reference)
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
