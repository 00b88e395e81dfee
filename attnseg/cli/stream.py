"""`attnseg stream SOURCE [SOURCE ...]`: live segmentation of cameras, files, URLs, folders or 'synthetic:N'.

Several sources share one model (StreamRuntime.stream with a list): each front-end call takes the frames waiting
from all of them, each source keeps its own ids and outputs, and one that ends or dies ends alone."""
from __future__ import annotations

import sys
import time

from ..engine import Segmenter
from ..engine.outputs import Outputs, Sink, Sinks
from ..engine.runs import check_writable
from ..engine.sources import check_sources
from ..engine.streaming import StreamRuntime, percentiles
from ..errors import SourceDisconnected, StreamError
from ..files import write_json
from ..settings import (DEFAULT_FPS, PRESETS, EndReason, ModelSettings, RuntimeSettings, SegmentConfig,
                        StreamConfig)
from .options import add_model, add_outputs, add_settings, read_outputs, read_settings


def add(sub) -> None:
    p = sub.add_parser("stream", help="segment live: webcams, video files, URLs, folders or 'synthetic:N'; several "
                                      "at once share one model")
    p.add_argument("source", nargs="+", help="camera index (0), video file, rtsp:// or http:// URL, frame folder, "
                                             "synthetic:N; several: one model, the front-end on the frames of all, "
                                             "ids and outputs per source (numbered from 1: --out DIR/1, "
                                             "labels.1.npy, ...; one --coco file, video_id the number)")
    add_model(p, defaults=PRESETS["cli"], chunks=False)
    add_settings(p, StreamConfig)  # window, ratio and tau are the segment options' own flags
    add_settings(p, RuntimeSettings)
    p.add_argument("--zmq", metavar="ADDRESS", help="publish every result over ZeroMQ PUB, e.g. tcp://*:5555 "
                                                    "(needs attnseg[zmq]; reader: examples/zmq_subscriber.py)")
    add_outputs(p, stats="JSON: frames in, segmented, carried and dropped, frames/s, latency percentiles (capture to "
                         "result, to the consumer, to the outputs written), object ids, how the stream ended; with "
                         "several sources, each one's under 'sources'",
                progress="a status line on stderr (a terminal only): frames segmented, carried and dropped, frames/s "
                         "and capture-to-mask latency, twice a second")
    p.set_defaults(run=run)


def run(args) -> int:
    model, config = read_settings(ModelSettings, args), read_settings(SegmentConfig, args)
    stream_config, runtime_settings = read_settings(StreamConfig, args), read_settings(RuntimeSettings, args)
    config.check_patches(model.patch_size)
    many = len(args.source) > 1
    outputs = [read_outputs(args, number=i + 1 if many else None) for i in range(len(args.source))]
    shared = Outputs(coco=args.coco if many else None, overwrite=args.overwrite)  # what every source writes into
    for o in (*outputs, shared):  # before the weights load: an existing file, a device, a folder of PNGs are refused
        check_writable(o, also=[args.stats_json] if args.stats_json and o is shared else [])
    check_sources(args.source)  # a bad source: its one line, before the weights load
    segmenter = Segmenter.from_settings(model, config)
    runtime = StreamRuntime(segmenter, stream_config)
    if args.zmq:
        shared.extra.append(lambda: open_publisher(args.zmq))
    sinks: list = []
    try:  # a busy address or an existing bag fails here, before any file is made
        for o in (shared, *outputs):
            sinks.append(o.open(fps=DEFAULT_FPS))
    except BaseException:
        Sinks(sinks).close()
        raise
    everyone, own = sinks[0], sinks[1:]
    ids: list[set[int]] = [set() for _ in args.source]
    wall_offset = time.time_ns() - time.monotonic_ns()  # capture times are monotonic; messages carry wall time
    failure, announced, written = None, False, []
    status = Status() if not args.no_progress and interactive() else None
    try:
        for r in runtime.stream(args.source if many else args.source[0], runtime_settings):
            if not announced:  # once a source delivers: a bad source ends in its one error line
                print(segmenter.mode.description, file=sys.stderr)
                announced = True
            frame = r.output_frame(wall_offset)
            own[r.source].write(frame)
            everyone.write(frame)
            written.append(time.monotonic() - r.timestamp)  # capture to written: where this command delivers
            del written[:-10000]
            ids[r.source].update(frame.present.tolist())
            if status:
                status.show(runtime.stats)
    except StreamError as err:
        failure = err
    except KeyboardInterrupt:  # Ctrl-C: how a camera's stream ends; the closing line still comes
        failure = KeyboardInterrupt("the outputs hold every frame streamed")
    finally:  # what was computed is kept: labels, video, bag and stats are written even after a failure
        if status:
            status.close()
        Sinks(sinks).close()
        stats = {**runtime.stats.to_dict(), "written_latency_ms": percentiles(written),
                 "objects": sum(len(i) for i in ids), "backend": segmenter.backend, "mode": segmenter.mode}
        for part, found in zip(stats.get("sources", []), ids):
            part["objects"] = len(found)
        if args.stats_json:
            write_json(args.stats_json, stats)
    print(summary(stats))
    for number, part in enumerate(stats.get("sources", []), start=1):
        print(f"  source {number} ({part['name']}): " + summary(part))
    if failure:
        raise failure
    lost = [(number, part) for number, part in enumerate(runtime.source_stats, start=1)
            if part.end_reason is EndReason.DISCONNECTED]
    if lost:  # a camera that went away (and did not come back): the outputs hold what it sent
        raise SourceDisconnected("; ".join((f"source {n} " if many else "") + f"lost: {p.end_detail}" for n, p in lost)
                                 + "; the outputs hold every frame streamed")
    return 0


def summary(stats: dict) -> str:
    """The closing line of a stream (or of one source of several)."""
    engine, out = stats["engine_latency_ms"], stats.get("written_latency_ms")
    to_outputs = f", to the outputs p50 {out['p50']} ms p99 {out['p99']} ms" if out else ""
    return (f"streamed {stats['frames_processed']}/{stats['frames_in']} frames segmented ({stats['frames_carried']} "
            f"carried, {stats['frames_dropped']} dropped), {stats['fps']:.2f} fps, capture to mask p50 {engine['p50']} "
            f"ms p99 {engine['p99']} ms{to_outputs}, {stats['objects']} object ids; ended: {stats['ended_by']}")


def open_publisher(address: str) -> Sink:
    """The ZeroMQ publisher of --zmq, as an output of the stream."""
    from ..integrations.zeromq import ZmqPublisher

    publisher = ZmqPublisher(address)
    print(f"publishing results on {publisher.address} (topic 'attnseg')", file=sys.stderr)
    return Sink(publisher, ZmqPublisher.write)


def interactive() -> bool:
    return sys.stderr.isatty()


class Status:
    """One line on stderr, redrawn at most every EVERY seconds: what the stream has done so far."""

    EVERY = 0.5

    def __init__(self):
        self.shown = 0.0

    def show(self, stats) -> None:
        now = time.monotonic()
        if now - self.shown < self.EVERY:
            return
        self.shown = now
        s = stats.to_dict()
        line = (f"stream: {s['frames_processed']} segmented, {s['frames_carried']} carried, {s['frames_dropped']} "
                f"dropped, {s['fps']:.1f} fps, capture to mask p50 {s['engine_latency_ms']['p50']} ms")
        print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
