"""`attnseg stream SOURCE [SOURCE ...]`: live segmentation of cameras, files, URLs, folders or 'synthetic:N'.

Several sources share one model (StreamRuntime.stream with a list): each front-end call takes the frames waiting
from all of them, each source keeps its own ids and outputs, and one that ends or dies ends alone."""
from __future__ import annotations

import sys

from ..engine.outputs.fanout import Outputs, Sink
from ..engine.session import Session
from ..presets import PRESETS
from .options import add_live, add_model, add_outputs, read_outputs, read_session


def add(sub) -> None:
    p = sub.add_parser("stream", help="segment live: webcams, video files, URLs, folders or 'synthetic:N'; several "
                                      "at once share one model")
    p.add_argument("source", nargs="+", help="camera index (0), video file, rtsp:// or http:// URL, frame folder, "
                                             "synthetic:N; several: one model, the front-end on the frames of all, "
                                             "ids and outputs per source (numbered from 1: --out DIR/1, "
                                             "labels.1.npy, ...; one --coco file, video_id the number)")
    add_model(p, defaults=PRESETS["cli"], chunks=False)
    add_live(p)
    p.add_argument("--zmq", metavar="ADDRESS", help="publish every result over ZeroMQ PUB, e.g. tcp://*:5555 "
                                                    "(needs attnseg[zmq]; reader: examples/zmq_subscriber.py)")
    add_outputs(p, stats="JSON: frames in, segmented, carried and dropped, frames/s, latency percentiles (capture to "
                         "result, to the consumer, to the outputs written), object ids, how the stream ended; with "
                         "several sources, each one's under 'sources'",
                progress="a status line on stderr (a terminal only): frames segmented, carried and dropped, frames/s "
                         "and capture-to-mask latency, twice a second")
    p.set_defaults(run=run)


def run(args) -> int:
    settings = read_session(args)
    many = len(args.source) > 1
    outputs = [read_outputs(args, number=i + 1 if many else None) for i in range(len(args.source))]
    shared = Outputs(coco=args.coco if many else None, overwrite=args.overwrite)  # what every source writes into
    if args.zmq:
        shared.extra.append(lambda: open_publisher(args.zmq))
    report = Session(settings).stream(args.source, outputs, shared=shared, stats_json=args.stats_json,
                                      progress=not args.no_progress, announce=True)
    print("\n".join(report.lines()))
    report.raise_failure()
    return 0


def open_publisher(address: str) -> Sink:
    """The ZeroMQ publisher of --zmq, as an output of the stream."""
    from ..integrations.zeromq import ZmqPublisher

    publisher = ZmqPublisher(address)
    print(f"publishing results on {publisher.address} (topic 'attnseg')", file=sys.stderr)
    return Sink(publisher, ZmqPublisher.write)
