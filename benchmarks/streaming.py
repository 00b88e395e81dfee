"""Streaming: throughput, capture-to-mask latency and agreement with the offline result, per clip.

For each clip (the DAVIS clips in ../shared/data, else the synthetic clip), a
fixed random checkpoint (seed 0, ST q/k scaled by --qk-gain so that there are
several clusters), two runs of the streaming runtime:
- "file": frames as fast as the engine takes them (policy wait, nothing dropped);
- "live": frames arriving at --live-fps in real time (policy drop-oldest), as a camera would.
Each run reports fps, frames in/processed/dropped, latency p50/p95/p99 (capture to
mask), and, against the offline pipeline on the same frames: its throughput (timed in
the same run, after a warm-up: `fps_over_offline`), mean IoU after one id matching
over the whole clip, and id switches per 100 frames.

Record: streaming_{device}_{arch}_{H}x{W}_qk{gain}.json.
"""
from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import torch

from .common import DAVIS_FRAMES, parse, parser, write_record  # noqa: E402

from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.live.sources import ArraySource  # noqa: E402
from attnseg.settings import StreamSettings  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402
from attnseg.engine.live.runtime import StreamRuntime  # noqa: E402
from attnseg.engine.synthetic import synthetic_clip  # noqa: E402
from attnseg.eval.ids import id_agreement, id_switches  # noqa: E402

DAVIS = DAVIS_FRAMES


def clips(limit: int):
    if DAVIS.is_dir():
        for path in sorted(DAVIS.iterdir()):
            yield path.name, read_clip(path).frames[:limit]
    else:
        yield "synthetic", synthetic_clip(limit, 240, 320)[0]


def run_stream(seg, frames, live_fps, config):
    engine = StreamRuntime(seg, config)
    source = ArraySource(frames, fps=live_fps, live=live_fps > 0)
    out = {r.frame_id: r.labels for r in engine.stream(source, queue_size=2)}
    return out, engine.stats.to_dict()


def agreement(stream_labels: dict, offline: np.ndarray) -> dict:
    ids = sorted(stream_labels)
    pred, ref = np.stack([stream_labels[i] for i in ids]), offline[ids]
    return {"mean_iou": round(id_agreement(pred, ref)["mean_iou"], 4),
            "id_switches_per_100_frames": round(id_switches(pred, ref)["per_100_frames"], 2),
            "frames_compared": len(ids)}


def main() -> int:
    p = parser(__doc__, "live", only=("arch", "resolution", "device", "backend", "window"), device="auto", qk_gain=6.0)
    p.add_argument("--frames", type=int, default=60, help="frames per clip")
    p.add_argument("--live-fps", type=float, default=24.0, help="arrival rate of the live run (DAVIS is 24 fps)")
    p.add_argument("--clips", type=int, default=None, help="only the first N clips")
    p.add_argument("--name", default=None, help="record name (default: from the settings)")
    p.add_argument("--memory", type=int, default=4)
    args = parse(p)
    h, w = args.resolution
    seg = Segmenter.from_checkpoint(random_weights=True, arch=args.arch, qk_gain=args.qk_gain, device=args.device,
                                    config=SegmentSettings(resolution=(h, w), backend=args.backend, window=args.window))
    config = StreamSettings(memory=args.memory)
    figures = {}
    for name, frames in itertools.islice(clips(args.frames), args.clips):
        seg.segment_video(frames[:6])  # warm-up
        start = time.perf_counter()
        offline = seg.segment_video(frames)
        offline_fps = len(frames) / (time.perf_counter() - start)
        entry = {"frames": len(frames), "offline_clusters": offline.num_clusters, "offline_fps": round(offline_fps, 3)}
        for mode, fps in (("file", 0.0), ("live", args.live_fps)):
            run_stream(seg, frames[:6], 0.0, config)  # warm-up: allocator, thread pools
            labels, stats = run_stream(seg, frames, fps, config)
            entry[mode] = {**stats, "vs_offline": agreement(labels, offline.labels),
                           "stream_ids": int(len(np.unique(np.stack(list(labels.values()))))),
                           "fps_over_offline": round(stats["fps"] / offline_fps, 3)}
            lat = stats["latency_ms"]
            print(f"{name:<12} {mode:<4}: {stats['fps']:6.2f} fps ({entry[mode]['fps_over_offline']:.2f}x offline's "
                  f"{offline_fps:.2f}), {stats['frames_processed']}/{stats['frames_in']} "
                  f"processed, latency p50 {lat['p50']} p99 {lat['p99']} ms | vs offline "
                  f"({offline.num_clusters} clusters): mIoU {entry[mode]['vs_offline']['mean_iou']}, "
                  f"{entry[mode]['vs_offline']['id_switches_per_100_frames']} switches/100 frames")
        figures[name] = entry
    settings = {"arch": args.arch, "resolution": [h, w], "device": args.device, "backend": args.backend,
                "frames": args.frames, "live_fps": args.live_fps, "qk_gain": args.qk_gain, "weights": "random seed 0",
                "stream_config": vars(config) if hasattr(config, "__dict__") else str(config),
                "threads": torch.get_num_threads()}
    name = args.name or f"streaming_{args.device}_{args.arch}_{h}x{w}_qk{args.qk_gain:g}"
    print("->", write_record(name, settings, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
