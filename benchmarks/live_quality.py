"""What the live changes cost in labels, on the DAVIS clips of ../shared, in one run:

- causal windows: the live labels of each frame clustered with its already-segmented predecessors (today's
  default) against the paper's fixed windows live (--no-causal: a frame waits for its window-mates) and against
  the offline pipeline, all on the same front-end output (vit_small_16 at 160x240, the live preset, a
  paper-format random checkpoint with q/k x5.0: tens of clusters per window). Scores: attnseg.eval.ids
  (mean IoU after one id matching over the clip; id switches per 100 frames), at patch level.
- carried labels: each ground-truth annotation of frame t carried by optical flow (attnseg.engine.live.carry) to
  t+1 ... t+4, J (IoU of the foreground) against the annotation there, beside the annotation copied unmoved.
  Needs no trained weights: it measures the carrying alone.

    python -m benchmarks.live_quality
Record: live_quality_cpu_vit_small_16_160x240.json.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .common import DAVIS, DAVIS_FRAMES, write_record  # noqa: E402

from attnseg.bench.load import paper_checkpoint  # noqa: E402
from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.live.carry import CARRY_WIDTH, Carrier  # noqa: E402
from attnseg.engine.live.stream_segmenter import StreamSegmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.eval.ids import id_agreement, id_switches  # noqa: E402
from attnseg.settings import StreamSettings  # noqa: E402

LIVE_QK_GAIN = 5.0  # tens of clusters per window on these clips (5.5: about a hundred; 4.8: a handful)


def stream_labels(seg: Segmenter, q: torch.Tensor, k: torch.Tensor, causal: bool) -> np.ndarray:
    stream = StreamSegmenter.of(seg, StreamSettings(causal=causal))
    maps = [m for t in range(q.shape[0]) for m in stream.push(q[t], k[t])] + stream.flush()
    return torch.stack(maps).view(q.shape[0], *seg.grid).numpy()


def agreement(pred: np.ndarray, ref: np.ndarray) -> dict:
    a = id_agreement(pred, ref)
    return {"mean_iou": round(a["mean_iou"], 4), "reference_ids": a["objects"],
            "id_switches_per_100_frames": round(id_switches(pred, ref)["per_100_frames"], 2)}


def causal_figures(clips: list[Path], gain: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = paper_checkpoint(Path(tmp), "vit_small_16", gain)
        seg = Segmenter.from_checkpoint(str(checkpoint), arch="vit_small_16",
                                        config=SegmentSettings(resolution=(160, 240), backend="eager"))
    out = {}
    for clip in clips:
        frames = read_clip(clip).frames
        with torch.inference_mode():
            q, k = seg.encode(frames)
            offline = seg.cluster(q, k).labels.view(len(frames), *seg.grid).numpy()
            timed = {}
            for causal in (True, False):
                start = time.perf_counter()
                timed[causal] = stream_labels(seg, q, k, causal)
                timed[f"s{causal}"] = (time.perf_counter() - start) / len(frames)
        causal, windows = timed[True], timed[False]
        per_window = [len(np.unique(windows[t:t + 3])) for t in range(0, len(frames), 3)]
        out[clip.name] = {
            "frames": len(frames), "ids": {"causal": int(len(np.unique(causal))),
                                           "windows": int(len(np.unique(windows))),
                                           "offline": int(len(np.unique(offline)))},
            "ids_per_window_median": float(np.median(per_window)),
            "causal_vs_windows": agreement(causal, windows), "causal_vs_offline": agreement(causal, offline),
            "windows_vs_offline": agreement(windows, offline),
            "clustering_ms_per_frame": {"causal": round(timed["sTrue"] * 1e3, 2),
                                        "windows": round(timed["sFalse"] * 1e3, 2)}}
        print(clip.name, out[clip.name], flush=True)
    return out


def carry_figures(clips: list[Path], step: int, horizon: int) -> dict:
    import cv2

    out = {}
    for clip in clips:
        frames = read_clip(clip).frames
        annotations = sorted((DAVIS / "Annotations" / "480p" / clip.name).glob("*.png"))
        truth = [cv2.imread(str(a), cv2.IMREAD_GRAYSCALE) > 0 for a in annotations]
        carried = {d: [] for d in range(1, horizon + 1)}
        copied = {d: [] for d in range(1, horizon + 1)}
        seconds = []
        carrier = Carrier()
        for t in range(0, len(frames) - horizon, step):
            carrier.segmented(frames[t], truth[t].astype(np.int32))
            for d in range(1, horizon + 1):
                start = time.perf_counter()
                _, labels = carrier.carry(frames[t + d])
                seconds.append(time.perf_counter() - start)
                carried[d].append(jaccard(labels > 0, truth[t + d]))
                copied[d].append(jaccard(truth[t], truth[t + d]))
        out[clip.name] = {f"t+{d}": {"carried_J": round(float(np.mean(carried[d])), 4),
                                     "copied_J": round(float(np.mean(copied[d])), 4)} for d in carried}
        out[clip.name]["carry_ms_median"] = round(float(np.median(seconds)) * 1e3, 2)
        print(clip.name, out[clip.name], flush=True)
    means = {f"t+{d}": {kind: round(float(np.mean([out[c][f"t+{d}"][kind] for c in out])), 4)
                        for kind in ("carried_J", "copied_J")} for d in range(1, horizon + 1)}
    return {"clips": out, "mean": means}


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qk-gain", type=float, default=LIVE_QK_GAIN)
    ap.add_argument("--step", type=int, default=5, help="carry from every STEP-th annotation")
    ap.add_argument("--horizon", type=int, default=4, help="carry to t+1 ... t+HORIZON")
    ap.add_argument("--carry-only", action="store_true", help="the carried labels only (record "
                    "live_quality_carry_h{HORIZON}_...json): how far the page's preview carries, from the newest "
                    "segmented frame")
    args = ap.parse_args()
    clips = sorted(DAVIS_FRAMES.iterdir()) if DAVIS_FRAMES.is_dir() else []
    if not clips:
        sys.exit(f"no DAVIS clips at {DAVIS_FRAMES}")
    figures = {} if args.carry_only else {"causal": causal_figures(clips, args.qk_gain)}
    figures["carry"] = carry_figures(clips, args.step, args.horizon)
    settings = {"clips": [c.name for c in clips], "arch": "vit_small_16", "resolution": [160, 240],
                "checkpoint": f"paper-format random, q/k x{args.qk_gain:g}", "stream": "StreamSettings() defaults",
                "carry": f"DIS ultrafast at {CARRY_WIDTH} px wide, annotation t -> t+1..t+{args.horizon}, every "
                         f"{args.step}th t", "command": "python -m benchmarks.live_quality",
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    name = f"live_quality_carry_h{args.horizon}_cpu" if args.carry_only else "live_quality_cpu_vit_small_16_160x240"
    print(f"wrote {write_record(name, settings, figures)}")


if __name__ == "__main__":
    main()
