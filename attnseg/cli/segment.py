"""`attnseg segment INPUT`: the paper's offline pipeline on a video file or a folder of frames, any length.

Frames stream from the input and every output is written as its frames' labels become final
(attnseg.engine.offline.runs): a clip of up to 150 frames is one piece, exactly the paper's pipeline; a longer
video is cut into chunks whose ids are linked (attnseg.engine.offline.pipeline). Ctrl-C or a failure keeps every
finished frame, and `--resume` continues an interrupted run.
"""
from __future__ import annotations

from ..engine.session import Session, closing_line
from ..presets import PRESETS
from .options import add_model, add_outputs, read_outputs, read_session

OUTPUT_FLAGS = ("--out", "--save-labels", "--overlay", "--coco", "--rosbag", "--stats-json", "--chunk-log")


def add(sub) -> None:
    p = sub.add_parser("segment", help="segment a video file or a folder of frames, of any length")
    p.add_argument("input", help="video file or folder of frames (sorted by name)")
    p.add_argument("--chunk-log", help="one JSON line per finished chunk, appended as it finishes: frames, "
                                       "clusters, ids so far, seconds and frames/s from decoding to labels (writing "
                                       "excluded), resident memory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command after its "
                                                         "last finished chunk (same result as an uninterrupted run)")
    add_model(p, defaults=PRESETS["cli"])
    add_outputs(p, stats="flat JSON: mode, backend, frames, chunks, clusters, object ids, seconds per stage, peak "
                         "memory", progress="a progress bar on stderr (a terminal only): frames through the front-end, "
                                            "the clustering and the writing, with the time left")
    p.set_defaults(run=run)


def run(args) -> int:
    outputs = read_outputs(args)
    stats = Session(read_session(args)).segment(args.input, outputs, stats_json=args.stats_json,
                                                chunk_log=args.chunk_log, resume=args.resume,
                                                progress=not args.no_progress)
    if stats is None:
        print(f"nothing to resume: the run into {', '.join(map(str, outputs.paths()))} has completed")
    else:
        print(closing_line(stats))
    return 0
