"""`attnseg batch INPUTS --out DIR`: many videos, one finished folder each; a re-run skips finished ones."""
from __future__ import annotations

import logging

from ..engine.outputs.fanout import Outputs
from ..engine.segmenter import RANDOM_BANNER
from ..engine.session import Session
from ..errors import AttnsegError
from ..files import write_json
from ..presets import PRESETS
from ..settings import RaySettings
from .options import add_model, add_settings, read_session, read_settings

log = logging.getLogger("attnseg")


def add(sub) -> None:
    p = sub.add_parser("batch", help="segment many videos, one output folder each; a re-run skips finished ones")
    p.add_argument("inputs", nargs="+", help="video files or frame folders")
    p.add_argument("--out", required=True, help="OUT/<name>/ per video: a label PNG per frame (named as the "
                                                 "input's frames, as `attnseg eval` reads them), labels.npy, "
                                                 "result.json")
    add_model(p, defaults=PRESETS["cli"])
    p.add_argument("--ray", action="store_true", help="fan out over a Ray cluster (Ray Data; needs attnseg[ray])")
    add_settings(p, RaySettings)
    p.add_argument("--summary-json", help="one record per video: status, frames, seconds, error")
    p.add_argument("--coco", metavar="FILE", help="one YouTube-VIS results JSON of every finished video (video_id: "
                                                  "its place among the inputs, from 1; layout: docs/cli.md)")
    p.add_argument("--overwrite", action="store_true", help="--coco and --summary-json may replace existing files "
                                                            "(a re-run of a batch rewrites them whole)")
    p.set_defaults(run=run)


def run(args) -> int:
    settings = read_session(args)
    # before any work: the files of the whole batch replace no file unless --overwrite, and never a device or a FIFO
    Outputs(coco=args.coco, overwrite=args.overwrite).check(also=[args.summary_json] if args.summary_json else [])
    if args.ray:
        from ..integrations.ray_batch import run_ray_batch

        if settings.model.random_weights:
            log.warning(RANDOM_BANNER)
        records = run_ray_batch(args.inputs, args.out, settings, read_settings(RaySettings, args))
        for r in records:
            _report(r)
    else:
        records = []
        for r in Session(settings).batch(args.inputs, args.out):
            records.append(r)
            _report(r)
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed")}
    if args.summary_json:
        write_json(args.summary_json, records)
    print(f"batch: {counts['done']} done, {counts['skipped']} skipped (finished before), {counts['failed']} failed "
          f"-> {args.out}")
    if args.coco:
        from ..engine.offline.batch import write_batch_coco

        videos = write_batch_coco(args.inputs, records, args.coco)
        print(f"batch: the masks of {videos} videos as COCO RLE -> {args.coco}")
    if counts["failed"]:
        again = " with --overwrite" if (args.coco or args.summary_json) and not args.overwrite else ""
        stuck = sum(r["status"] == "failed" and not r.get("retry", True) for r in records)
        if stuck == counts["failed"]:  # a missing or unreadable input fails again: retrying is no advice
            raise AttnsegError(f"{stuck} video(s) failed (see above): an input that cannot be read fails again; fix "
                               f"it or leave it out, then run again{again} (finished videos are skipped)")
        raise AttnsegError(f"{counts['failed']} video(s) failed (see above); re-run the same command{again} to retry "
                           "them")
    return 0


def _report(record: dict) -> None:
    detail = {"done": lambda r: f"{r['frames']} frames in {r['seconds']:.1f}s", "skipped": lambda r: "finished before",
              "failed": lambda r: r.get("error", "")}[record["status"]](record)
    print(f"{record['status']:>8}  {record['video']}  {detail}")
