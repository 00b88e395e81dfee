"""Per-stage wall time of the offline pipeline on one clip (one warm-up, then timed runs).

    python -m benchmarks.stage_times --frames DIR --num-frames 30 --resolution 320 480 \
        (--checkpoint CKPT | --random-weights [--qk-gain G]) --name stages_cpu_320x480
"""
from __future__ import annotations

import json
import statistics

from .common import parse, parser, write_record  # noqa: E402

from attnseg import SegmentSettings, Segmenter  # noqa: E402
from attnseg.engine.frames import read_clip  # noqa: E402


def main() -> None:
    ap = parser(__doc__, "cli", only=("checkpoint", "random_weights", "arch", "resolution", "ratio", "tau", "device"),
                qk_gain=1.0)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--num-frames", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--warmup-frames", type=int, default=3, help="frames of the (short) warm-up run")
    ap.add_argument("--name", default="stages")
    args = parse(ap)

    frames = read_clip(args.frames).frames[: args.num_frames]
    cfg = SegmentSettings(resolution=tuple(args.resolution), ratio=args.ratio, tau=args.tau)
    seg = Segmenter.from_checkpoint(args.checkpoint, random_weights=args.random_weights, arch=args.arch,
                                    config=cfg, device=args.device, qk_gain=args.qk_gain)
    seg.segment_video(frames[: args.warmup_frames])  # warm-up: allocator, kernels, caches
    runs = [seg.segment_video(frames) for _ in range(args.repeats)]
    stages = {k: round(statistics.median(r.timings[k] for r in runs), 4) for k in runs[0].timings}
    figures = {"frames": len(frames), "clusters": runs[0].num_clusters, "mode": seg.mode,
               "seconds": stages, "ms_per_frame_total": round(1000 * stages["total"] / len(frames), 1),
               "fps_total": round(len(frames) / stages["total"], 3)}
    settings = {"frames_dir": args.frames, "arch": args.arch, "resolution": list(args.resolution),
                "ratio": args.ratio, "tau": args.tau, "device": args.device, "repeats": args.repeats,
                "weights": seg.weights.source, "weights_sha256": seg.weights.sha256, "qk_gain": args.qk_gain,
                "parity": "reference pipeline itself (labels agree 100% with the authors' code, see vs_authors_*)"}
    path = write_record(args.name, settings, figures)
    print(json.dumps(figures, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
