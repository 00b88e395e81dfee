"""`attnseg stream SOURCE`: live segmentation of a camera, a file, a URL, a folder or 'synthetic:N'."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..engine import Segmenter, save_labels
from ..engine.outputs import VideoSink, overlay, write_label_png
from ..engine.streaming import StreamEngine
from ..errors import StreamError
from ..settings import PRESETS, LiveSettings, ModelSettings, SegmentConfig, StreamConfig
from .options import add_model, add_outputs, add_settings, read_settings
from .outputs import describe_mode, open_publisher, open_rosbag, write_json


def add(sub) -> None:
    p = sub.add_parser("stream", help="segment live: a webcam, a video file, a URL, a folder or 'synthetic:N'")
    p.add_argument("source", help="camera index (0), video file, rtsp:// or http:// URL, frame folder, synthetic:N")
    add_model(p, defaults=PRESETS["cli"], chunks=False)
    add_settings(p, StreamConfig)  # window, ratio and tau are the segment options' own flags
    add_settings(p, LiveSettings)
    p.add_argument("--zmq", metavar="ADDRESS", help="publish every result over ZeroMQ PUB, e.g. tcp://*:5555 "
                                                    "(needs attnseg[zmq]; reader: examples/zmq_subscriber.py)")
    add_outputs(p)
    p.set_defaults(run=run)


def run(args) -> int:
    model, config = read_settings(ModelSettings, args), read_settings(SegmentConfig, args)
    stream_config, live = read_settings(StreamConfig, args), read_settings(LiveSettings, args)
    config.check_patches(model.patch_size)
    segmenter = Segmenter.from_settings(model, config)
    engine = StreamEngine(segmenter, stream_config)
    publisher = open_publisher(args)  # first: a busy address fails before any file is started
    bag = open_rosbag(args)
    sink = VideoSink(args.overlay, 24.0) if args.overlay else None
    labels, ids = [], set()
    wall_offset = time.time_ns() - time.monotonic_ns()  # capture times are monotonic; messages carry wall time
    failure, announced = None, False
    try:
        for r in engine.stream(args.source, live):
            if not announced:  # once the source delivers: a bad source ends in its one error line
                print(describe_mode(segmenter.mode), file=sys.stderr)
                announced = True
            present = np.unique(r.patch_labels)  # ids counted per patch: cheap
            shown = overlay(r.image, r.labels) if sink or (bag and args.rosbag_overlay) else None
            if args.out:
                write_label_png(Path(args.out) / f"{r.frame_id:06d}.png", r.labels)
            if sink:
                sink.write(shown)
            stamp = wall_offset + round(r.timestamp * 1e9)
            if bag:
                bag.write(stamp, r.labels, shown if args.rosbag_overlay else None)
            if publisher:
                publisher.publish(r.frame_id, stamp, r.labels, latency_ms=round(r.latency * 1e3, 3),
                                  objects=len(present))
            if args.save_labels:
                labels.append(r.patch_labels)
            ids.update(present.tolist())
    except StreamError as err:
        failure = err
    finally:  # what was computed is kept: labels, video, bag and stats are written even after a failure
        if sink:
            sink.close()
        if bag:
            bag.close()
        if publisher:
            publisher.close()
        if args.save_labels and labels:
            save_labels(args.save_labels, np.stack(labels))
        stats = {**engine.stats.to_dict(), "objects": len(ids), "backend": segmenter.backend, "mode": segmenter.mode}
        if args.stats_json:
            write_json(args.stats_json, stats)
    lat = stats["latency_ms"]
    print(f"streamed {stats['frames_processed']}/{stats['frames_in']} frames ({stats['frames_dropped']} dropped), "
          f"{stats['fps']:.2f} fps, latency p50 {lat['p50']} ms p99 {lat['p99']} ms, {len(ids)} object ids; "
          f"ended: {stats['ended_by']}")
    if failure:
        raise failure
    return 0
