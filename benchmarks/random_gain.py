"""Random weights' ST q/k gain per model and resolution: the gain at which each preset's own path shows tens of regions.

With no weights at hand attnseg runs random ones whose ST q/k rows are scaled by a gain (sharper attention, more
clusters). How many regions a gain gives moves with the patch size, the resolution and the path (a stream's 3-frame
windows against 4 key frames fragment more than a clip's piece). For each preset this bisects the gain on the
generated sample clip and, beside the checkout, the DAVIS clips, with that preset's own path (`live`: the stream;
the others: the offline piece), and records regions a frame (distinct ids, and those over 1% of the frame) and ids
in all per clip. The chosen gain is the smallest (to 0.1) whose median over the clips reaches MIN_REGIONS a frame:
attnseg.settings.RANDOM_QK_GAINS holds those.

    python -m benchmarks.random_gain                       # every preset (about 10 min on 2 cores)
    python -m benchmarks.random_gain --presets live        # one
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from benchmarks.common import DAVIS_FRAMES, machine, write_record

MIN_REGIONS = 10  # a frame's distinct ids: "tens of regions"
PRESETS = ["live", "sample", "bench", "cli"]  # robot: cli's model and size


def clips(frames: int) -> dict[str, object]:
    from attnseg.engine.synthetic import synthetic_clip

    found = {"sample": synthetic_clip(frames)[0]}
    for name in ("blackswan", "dog", "parkour"):
        folder = DAVIS_FRAMES / name
        if folder.is_dir():
            import cv2
            paths = sorted(folder.glob("*.jpg"))[:frames]
            found[name] = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths])
    return found


def labels_of(preset: str, gain: float, clip: np.ndarray) -> np.ndarray:
    from attnseg import Segmenter
    from attnseg.engine.live.runtime import stream
    from attnseg.engine.live.sources import ArraySource
    from attnseg.presets import PRESETS
    from attnseg.settings import Backend, Device, SessionSettings

    base = PRESETS[preset]
    model = dataclasses.replace(base.model, random_weights=True, qk_gain=gain, device=Device.CPU)
    segment = dataclasses.replace(base.segment, backend=Backend.EAGER)
    segmenter = Segmenter.from_settings(SessionSettings(model=model, segment=segment))
    if preset != "live":
        return np.asarray(segmenter.segment_video(clip).labels)
    return np.stack([r.labels for r in stream(ArraySource(clip), segmenter=segmenter, config=base.stream)])


def regions(labels: np.ndarray) -> dict:
    per_frame = [len(np.unique(f)) for f in labels]
    big = [int(((np.bincount(f.ravel()) / f.size) > 0.01).sum()) for f in labels]
    return {"regions_per_frame": round(float(np.mean(per_frame)), 1), "big_per_frame": round(float(np.mean(big)), 1),
            "ids": int(len(np.unique(labels))), "max_id": int(labels.max())}


def sweep(preset: str, found: dict[str, np.ndarray], low: float, high: float) -> dict:
    """Bisects the gain (to 0.1) between `low` (fewer regions) and `high` for the first reaching MIN_REGIONS."""
    from attnseg.presets import PRESETS

    tried = []
    while high - low > 0.1 + 1e-9:
        gain = round((low + high) / 2, 1)
        began = time.perf_counter()
        per_clip = {name: regions(labels_of(preset, gain, clip)) for name, clip in found.items()}
        median = round(statistics.median(c["regions_per_frame"] for c in per_clip.values()), 1)
        tried.append({"qk_gain": gain, "median_regions_per_frame": median, "clips": per_clip})
        print(f"{preset} gain {gain}: median {median} regions a frame "
              f"({', '.join(n + ' ' + str(c['regions_per_frame']) for n, c in per_clip.items())}) "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        low, high = (low, gain) if median >= MIN_REGIONS else (gain, high)
    base = PRESETS[preset]
    return {"arch": base.model.arch, "resolution": list(base.segment.resolution),
            "path": "stream" if preset == "live" else "offline", "chosen": high,
            "tried": sorted(tried, key=lambda t: t["qk_gain"])}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--presets", nargs="+", default=PRESETS)
    p.add_argument("--frames", type=int, default=30, help="frames of each clip (default: 30: 3 key frames)")
    p.add_argument("--between", type=float, nargs=2, default=(4.6, 7.0), metavar=("LOW", "HIGH"),
                   help="the gains bisected (default: 4.6 7.0)")
    args = p.parse_args(argv)
    found = clips(args.frames)
    figures = {preset: sweep(preset, found, *args.between) for preset in args.presets}
    name = "random_gain" + ("" if args.presets == PRESETS else "_" + "_".join(args.presets))
    print(write_record(name, {"frames": args.frames, "clips": list(found), "between": args.between,
                                       "min_regions": MIN_REGIONS, "machine": machine(),
                                       "command": "python -m benchmarks.random_gain"}, figures))


if __name__ == "__main__":
    main()
