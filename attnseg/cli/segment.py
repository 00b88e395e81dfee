"""`attnseg segment INPUT`: the paper's offline pipeline on a video file or a folder of frames."""
from __future__ import annotations

import sys
import time

from ..engine import Segmenter, save_labels, write_label_pngs, write_overlay_video
from ..engine.frames import read_clip
from ..engine.outputs import overlay
from ..settings import Mode, ModelSettings, SegmentConfig
from .options import add_model, add_outputs, read_settings
from .outputs import describe_mode, open_rosbag, write_json


def add(sub) -> None:
    p = sub.add_parser("segment", help="segment a video file or a folder of frames")
    p.add_argument("input", help="video file or folder of frames (sorted by name)")
    add_model(p)
    p.add_argument("--mode", default=Mode.OFFLINE.value, choices=Mode.values(), help="offline: the paper's pipeline")
    add_outputs(p)
    p.set_defaults(run=run)


def run(args) -> int:
    model, config = read_settings(ModelSettings, args), read_settings(SegmentConfig, args)
    config.check_patches(model.patch_size)  # every setting before any decoding or loading
    return segment(args, model, config)


def segment(args, model: ModelSettings, config: SegmentConfig) -> int:
    """Segment args.input with these settings and write what args asks for."""
    bag = open_rosbag(args)  # before the work: an existing bag path fails now, not after
    start = time.perf_counter()
    try:
        clip = read_clip(args.input)  # first: a missing or corrupt input fails before any weights load
        decode = time.perf_counter() - start
        segmenter = Segmenter.from_settings(model, config)
        print(describe_mode(segmenter.mode), file=sys.stderr)
        result = segmenter.segment_video(clip, progress=not args.no_progress and sys.stderr.isatty())
    except BaseException:
        if bag:
            bag.abort()
        raise
    result.timings["decode"] += decode
    result.timings["total"] += decode
    start = time.perf_counter()
    if args.out:
        write_label_pngs(args.out, result.masks, result.names)
    if args.save_labels:
        save_labels(args.save_labels, result.labels)
    if args.overlay:
        write_overlay_video(args.overlay, clip.frames, result.masks, result.fps)
    if bag:
        with bag:
            t0, period = time.time_ns(), 1e9 / (result.fps or 24.0)  # frame i at i / fps after the run's start
            for i, mask in enumerate(result.masks):
                shown = overlay(clip.frames[i], mask) if args.rosbag_overlay else None
                bag.write(t0 + round(i * period), mask, shown)
    result.timings["output"] = time.perf_counter() - start
    result.timings["total"] += result.timings["output"]
    stats = result.stats()
    if args.stats_json:
        write_json(args.stats_json, stats)
    stages = " ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k != "total")
    print(f"segmented {stats['frames']} frames -> {stats['clusters']} clusters ({stats['clusters_used']} used), "
          f"{result.mode}: {stages} | total {result.timings['total']:.2f}s")
    return 0
