"""The live page's work per frame at 480x854 with 50 objects: counting the objects, drawing the overlay and
encoding its JPEG, from the grid labels (attnseg.engine.outputs.drawing: what LiveServer does now) against the same work on
the full-size label map (two np.unique, a mask and nonzero per object, a float blend: what it did before), in
one run. Grids: the live preset's patches (10x15 at 160x240), a finer patch grid (30x53) and a carried frame's
flow-sized map (68x120).

    python -m benchmarks.page_work
Record: page_work_cpu_480x854.json.
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from .common import write_record  # noqa: E402

from attnseg.engine.live.stats import percentiles  # noqa: E402
from attnseg.engine.masks import upsample_labels  # noqa: E402
from attnseg.engine.outputs.drawing import colour_of, layout, objects, overlay, render  # noqa: E402

SIZE = (480, 854)


def grid_of(shape: tuple[int, int], count: int, seed: int = 0) -> np.ndarray:
    """`count` objects as blobs: each cell takes the nearest of `count` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.random((count, 2)) * shape
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    d = (ys[..., None] - centres[:, 0]) ** 2 + (xs[..., None] - centres[:, 1]) ** 2
    return (d.argmin(-1) * 7 + 1000).astype(np.int32)


def now_page(image, grid):
    lay = layout(grid.shape, SIZE)
    shown = objects(grid, lay)
    out = render(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), grid, lay, 0.5, None, shown, bgr=True)
    return len(shown), cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]


def before_page(image, labels):
    """The page's work before: objects from a full-size unique, the overlay with ids at each object's pixels'
    mean (a mask and nonzero per object), the overlay drawn on the full-size map (every pixel its own cell), JPEG
    at OpenCV's default quality."""
    ids, counts = np.unique(labels, return_counts=True)
    shown = [{"id": int(i), "colour": colour_of(int(i)), "area": float(c) / labels.size} for i, c in zip(ids, counts)]
    out = overlay(image, labels)
    for obj in np.unique(labels):
        ys, xs = np.nonzero(labels == obj)
        cv2.putText(out, str(int(obj)), (int(xs.mean()) - 6, int(ys.mean()) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return len(shown), cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR))[1]


def timed(fn, *args, repeats: int) -> list[float]:
    fn(*args)  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=60)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # the page's thread, beside the engine's
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8), (0, 0), 2)
    figures = {}
    for shape in ((10, 15), (30, 53), (68, 120)):
        grid = grid_of(shape, args.objects)
        labels = upsample_labels(grid[None], SIZE)[0]
        assert np.array_equal(render(image, grid, layout(shape, SIZE), 0.5, None, shown=[]), overlay(image, labels))
        now, before = [], []
        for _ in range(3):  # alternating, so host noise falls on both
            now += timed(now_page, image, grid, repeats=args.repeats // 3)
            before += timed(before_page, image, labels, repeats=max(1, args.repeats // 30))
        count = now_page(image, grid)[0]
        figures[f"{shape[0]}x{shape[1]}"] = {
            "objects": count, "now_ms": {"median": round(float(np.median(now)), 2),
                                         **percentiles(now, (90,), scale=1.0)},
            "before_ms": {"median": round(float(np.median(before)), 2)},
            "speedup": round(float(np.median(before) / np.median(now)), 1)}
        print(shape, figures[f"{shape[0]}x{shape[1]}"], flush=True)
    settings = {"frame": list(SIZE), "objects": args.objects, "repeats": args.repeats, "jpeg_quality": 80,
                "opencv_threads": 1, "command": "python -m benchmarks.page_work",
                "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    print(f"wrote {write_record('page_work_cpu_480x854', settings, figures)}")


if __name__ == "__main__":
    main()
