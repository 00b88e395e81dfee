"""Many videos, one output folder each, written so that a re-run skips what is finished.

    for record in run_batch(segmenter, ["a.mp4", "b/", ...], "out/"):
        record["video"], record["status"]           # done | skipped | failed

out/<name>/ holds a PNG label map per frame (named as the input's frames: the layout `attnseg eval` reads),
labels.npy and result.json (its stats), written
as the frames' labels become final (attnseg.engine.offline.runs: any length, long
videos in linked chunks, bounded memory, so a long video never brings down a
worker or a Ray actor); it is
built under a hidden temporary name and renamed into place as a whole, so
out/<name> exists only once its video is finished. A run that dies (a killed
worker, a lost machine) loses the video it was on, nothing else; the next run
skips every finished video and clears the leftovers of the one that died.
Inputs whose names collide are refused before any work. The Ray runner
(attnseg.integrations.ray_batch) fans the same process_video out to actors.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ...errors import InputError
from ..outputs.coco import CocoResults
from ..frames import FrameReader
from ..masks import upsample_labels
from ..outputs.fanout import Outputs
from .runs import frame_size, segment_to_files

RESULT = "result.json"


def output_names(videos: Sequence[str | Path]) -> dict[str, str]:
    """video -> its output folder's name (the file or folder name, suffix dropped); collisions are an error."""
    names: dict[str, str] = {}
    owner: dict[str, str] = {}  # name -> the input that took it
    for video in map(str, videos):
        name = Path(video.rstrip("/")).stem or "video"
        if name in owner:
            raise InputError(f"inputs {owner[name]} and {video} would both write to '{name}/'; rename one")
        names[video], owner[name] = name, video
    return names


def is_finished(dest: Path) -> bool:
    return (dest / RESULT).is_file()


def process_video(segmenter, video: str, dest: str | Path) -> dict:
    """Segment one video with `segmenter` (a Segmenter) into `dest` (skipped if finished there); a record of what
    happened, never a raise for a bad video: an unreadable one is recorded as failed and the batch goes on."""
    dest = Path(dest)
    if is_finished(dest):
        return {"video": video, "status": "skipped", "out": str(dest)}
    for stale in [*dest.parent.glob(f".{dest.name}.partial-*"), *dest.parent.glob(f"..{dest.name}.partial-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # what an interrupted run left behind (its folder, its run state)
    if dest.exists():  # we only ever rename finished folders into place: this one is someone else's
        return {"video": video, "status": "failed", "out": str(dest), "retry": False,
                "error": f"{dest} exists but holds no {RESULT}; it is not an attnseg result: move it away"}
    staging = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    outputs = Outputs(out=staging, labels=staging / "labels.npy")
    try:
        stats = segment_to_files(segmenter, video, outputs)
        record = {"video": video, "status": "done", "out": str(dest), **stats,
                  "frame_size": list(frame_size(FrameReader(video))),
                  "seconds": round(time.perf_counter() - start, 3), "worker_pid": os.getpid()}
        (staging / RESULT).write_text(json.dumps(record, indent=1) + "\n")  # last: marks the folder complete
        os.replace(staging, dest)
        return record
    except (InputError, OSError, ValueError) as err:  # retry: whether running it again may succeed (a full disk
        # may have room then; a missing or unreadable input fails the same way)
        return {"video": video, "status": "failed", "out": str(dest), "error": str(err),
                "retry": not isinstance(err, (InputError, ValueError))}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(outputs.state_dir(), ignore_errors=True)


def run_batch(segmenter, videos: Sequence[str | Path], out_root: str | Path) -> Iterator[dict]:
    """process_video over `videos` in order, in this process; one record per video. `segmenter`: one, or a
    function that loads it, called at the first video not finished before (a re-run of a finished batch loads
    no weights)."""
    load = segmenter if callable(segmenter) and not hasattr(segmenter, "config") else (lambda: segmenter)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    for video, name in output_names(videos).items():
        dest = out_root / name
        if is_finished(dest):
            yield {"video": video, "status": "skipped", "out": str(dest)}
            continue
        yield process_video(load(), video, dest)


def write_batch_coco(videos: Sequence[str | Path], records: Sequence[dict], dest: str | Path) -> int:
    """One YouTube-VIS results file for the finished videos of a batch (done now or before), video_id their place
    among `videos` (the batch's inputs) counting from 1: each rebuilt frame by frame from its folder's labels.npy
    (memory-mapped) upsampled to the frame's size, as the label PNGs are. Returns the videos written."""
    finished = {r["video"]: r for r in records if r["status"] in ("done", "skipped")}
    results, written = CocoResults(dest), 0
    try:
        for video_id, video in enumerate(map(str, videos), start=1):
            if video not in finished:
                continue
            folder = Path(finished[video]["out"])
            size = json.loads((folder / RESULT).read_text()).get("frame_size") or frame_size(FrameReader(video))
            for index, labels in enumerate(np.load(folder / "labels.npy", mmap_mode="r")):
                results.write(index, upsample_labels(np.array(labels)[None], tuple(size))[0], video_id)  # off the map
            written += 1
    finally:
        results.close()
    return written
