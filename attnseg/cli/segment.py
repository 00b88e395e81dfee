"""`attnseg segment INPUT`: the paper's offline pipeline on a video file or a folder of frames, any length.

Frames stream from the input and every output is written as its frames' labels become final
(attnseg.engine.runs): a clip of up to 150 frames is one piece, exactly the paper's pipeline; a longer
video is cut into chunks whose ids are linked (attnseg.engine.offline). Ctrl-C or a failure keeps every
finished frame, and `--resume` continues an interrupted run.
"""
from __future__ import annotations

import contextlib
import json
import sys

from ..engine import Segmenter
from ..engine.frames import FrameReader
from ..engine.outputs import Outputs
from ..engine.runs import check_writable, completed, segment_to_files
from ..errors import SettingError
from ..files import write_json
from ..settings import PRESETS, ModelSettings, SegmentConfig
from .options import add_model, add_outputs, read_outputs, read_settings


OUTPUT_FLAGS = ("--out", "--save-labels", "--overlay", "--coco", "--rosbag", "--stats-json", "--chunk-log")


def add(sub) -> None:
    p = sub.add_parser("segment", help="segment a video file or a folder of frames, of any length")
    p.add_argument("input", help="video file or folder of frames (sorted by name)")
    add_model(p, defaults=PRESETS["cli"])
    add_outputs(p, stats="flat JSON: mode, backend, frames, chunks, clusters, object ids, seconds per stage, peak "
                         "memory", progress="a progress bar on stderr (a terminal only): frames through the front-end, "
                                            "the clustering and the writing, with the time left")
    p.add_argument("--chunk-log", help="one JSON line per finished chunk, appended as it finishes: frames, "
                                       "clusters, ids so far, seconds and frames/s from decoding to labels (writing "
                                       "excluded), resident memory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command after its "
                                                         "last finished chunk (same result as an uninterrupted run)")
    p.set_defaults(run=run)


def run(args) -> int:
    model, config = read_settings(ModelSettings, args), read_settings(SegmentConfig, args)
    config.check_patches(model.patch_size)  # every setting before any decoding or loading
    return segment(args.input, read_outputs(args), model, config, stats_json=args.stats_json,
                   chunk_log=args.chunk_log, resume=args.resume, progress=not args.no_progress)


def segment(source: str, outputs: Outputs, model: ModelSettings, config: SegmentConfig, *,
            stats_json: str | None = None, chunk_log: str | None = None, resume: bool = False,
            progress: bool = True) -> int:
    """Segment `source` with these settings into `outputs`, and say what was done."""
    reader = FrameReader(source)  # first: a missing or unopenable input fails before any weights load
    if not (outputs.paths() or stats_json or chunk_log):
        raise SettingError(f"nothing would be written: name an output ({', '.join(OUTPUT_FLAGS)})")
    if resume and completed(outputs):
        print(f"nothing to resume: the run into {', '.join(map(str, outputs.paths()))} has completed")
        return 0
    check_writable(outputs, resume, also=[stats_json] if stats_json else [])  # before the weights load
    segmenter = Segmenter.from_settings(model, config)
    print(segmenter.mode.description, file=sys.stderr)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(chunk_log, "a")) if chunk_log else None
        on_chunk = (lambda record: print(json.dumps(record), file=log, flush=True)) if log else None
        stats = segment_to_files(segmenter, reader, outputs, resume=resume, progress=progress and sys.stderr.isatty(),
                                 on_chunk=on_chunk, on_end=(lambda s: write_json(stats_json, s)) if stats_json else None)
    stages = " ".join(f"{k} {stats[k]:.2f}s" for k in ("decode", "preprocess", "backbone", "affinity", "clustering",
                                                        "linking", "output") if k in stats)
    pieces = "one piece" if stats["chunks"] <= 1 and not stats["resumed_at"] else \
        f"chunks of {stats['chunk_frames']} frames"
    ids = f"{stats['ids']} object id" + ("" if stats["ids"] == 1 else "s")
    print(f"segmented {stats['frames']} frames ({pieces}) -> {ids}, {stats['mode']}: {stages} | "
          f"total {stats['total']:.2f}s, peak memory {stats['peak_rss_mb']:.0f} MB")
    return 0
