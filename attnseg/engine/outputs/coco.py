"""Masks as COCO run-length encoding, in YouTube-VIS's results layout, written in bounded memory.

    results = CocoResults("results.json")
    results.write(index, mask)                      # each frame as it is final: (H, W) int ids
    results.close()                                 # the JSON, published atomically (also after a failure)

The file is what YouTube-VIS's evaluation reads as results: a JSON list with one entry per object id of each
video, in order of video, then id:

    [{"video_id": 1, "category_id": 1, "score": 1.0,
      "segmentations": [{"size": [H, W], "counts": "<COCO compressed RLE>"} or null, ... one per frame]}, ...]

`segmentations[i]` is frame i's mask of the object (the frame's index: a stream's dropped frames are null
for every object), null where the object is absent. The counts are COCO's compressed string
(pycocotools.mask.encode of the Fortran-order binary mask gives the same bytes). attnseg finds objects, not
classes: category_id is 1 and score 1.0 for every object.

Bounded memory for a video of any length: each frame's runs go to a spool file beside the result as they
come; closing reads the spool back once per group of objects whose runs fit SPOOL_BUDGET bytes (one pass for
most runs) and writes each object's list, then renames the result into place and deletes the spool.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...files import publish, temp_beside

CATEGORY_ID = 1
SCORE = 1.0
SPOOL_BUDGET = 256 * 2**20  # bytes of runs held in memory at once while the file is assembled
ENTRY_BYTES = 160  # what Python holds besides the counts for one frame of one object (its string, its dict slot)


def rle_string(counts) -> str:
    """COCO's compressed form of run lengths (counts of 0s, then 1s, alternating, column-major): each count, or
    its difference with the count two before it from the third on, in little-endian groups of 5 bits, each
    group offset by 48 and flagged 0x20 when more groups follow (vectorized: one row of groups per count)."""
    x = np.asarray(counts, dtype=np.int64).copy()
    x[3:] -= np.asarray(counts, dtype=np.int64)[1:-2]
    groups, flags, more = [], [], np.ones(len(x), dtype=bool)
    while more.any():
        c = x & 0x1F
        x = x >> 5  # arithmetic shift: a negative difference ends at -1
        last = more
        more = last & np.where(c & 0x10, x != -1, x != 0)
        groups.append(np.where(last, c + 48 + 0x20 * more, 0))
        flags.append(last)
    if not groups:
        return ""
    chars = np.stack(groups, axis=1)[np.stack(flags, axis=1)]  # row by row: each count's groups in order
    return chars.astype(np.uint8).tobytes().decode("ascii")


def encode_objects(label_map: np.ndarray) -> dict[int, str]:
    """Each id of an (H, W) label map -> the compressed RLE of its binary mask, all from one pass over the runs
    of the map in column-major order."""
    flat = np.asarray(label_map).ravel(order="F")
    n = flat.size
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    ends = np.append(starts[1:], n)
    run_ids = flat[starts]
    order = np.argsort(run_ids, kind="stable")  # each id's runs together, in order along the image
    ids, first = np.unique(run_ids[order], return_index=True)
    bounds = np.append(first, len(order))
    encoded = {}
    for obj, lo, hi in zip(ids.tolist(), bounds[:-1], bounds[1:]):
        s, e = starts[order[lo:hi]], ends[order[lo:hi]]
        counts = np.empty(2 * len(s) + 1, dtype=np.int64)
        counts[0::2] = np.append(s, n) - np.concatenate(([0], e))  # the 0s before each run, and after the last
        counts[1::2] = e - s
        if counts[-1] == 0:
            counts = counts[:-1]
        encoded[obj] = rle_string(counts)
    return encoded


class CocoResults:
    """A YouTube-VIS results file written frame by frame (module docstring); `video_id` tells videos apart."""

    def __init__(self, dest: str | Path, budget: int = SPOOL_BUDGET):
        self.dest, self.budget = Path(dest), budget
        self.spool_path = temp_beside(self.dest.with_suffix(".spool"))
        self.spool = open(self.spool_path, "w")
        self.frames: dict[int, int] = {}  # video -> frames (its last index + 1)
        self.sizes: dict[tuple[int, int], int] = {}  # (video, id) -> bytes of its runs in the spool

    def write(self, index: int, mask: np.ndarray, video_id: int = 1) -> None:
        height, width = mask.shape
        lines = []
        for obj, counts in encode_objects(mask).items():
            lines.append(f"{video_id} {index} {obj} {height} {width} {counts}\n")
            key = (video_id, obj)
            self.sizes[key] = self.sizes.get(key, 0) + len(counts) + ENTRY_BYTES
        self.spool.write("".join(lines))
        self.frames[video_id] = max(self.frames.get(video_id, 0), index + 1)

    def close(self) -> None:
        if self.spool.closed:
            return
        try:
            self.spool.close()
            if self.frames:
                self._assemble()
        finally:
            self.spool_path.unlink(missing_ok=True)

    def _groups(self) -> list[list[tuple[int, int]]]:
        """The objects in file order, cut into groups whose runs fit the budget together."""
        groups, held = [[]], 0
        for key in sorted(self.sizes):
            if groups[-1] and held + self.sizes[key] > self.budget:
                groups.append([])
                held = 0
            groups[-1].append(key)
            held += self.sizes[key]
        return groups

    def _assemble(self) -> None:
        tmp = temp_beside(self.dest)
        try:
            with open(tmp, "w") as out:
                out.write("[")
                first = True
                for group in self._groups():
                    wanted = set(group)
                    runs: dict[tuple[int, int], dict[int, str]] = {key: {} for key in group}
                    with open(self.spool_path) as spool:
                        for line in spool:
                            video, index, obj, height, width, counts = line.split()
                            key = (int(video), int(obj))
                            if key in wanted:
                                runs[key][int(index)] = f'{{"size":[{height},{width}],"counts":{json.dumps(counts)}}}'
                    for key in group:
                        out.write(("" if first else ",\n") + self._entry(key, runs.pop(key)))
                        first = False
                out.write("]\n")
            publish(tmp, self.dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _entry(self, key: tuple[int, int], runs: dict[int, str]) -> str:
        video, _ = key
        segs = ",".join(runs.get(i, "null") for i in range(self.frames[video]))
        return (f'{{"video_id":{video},"category_id":{CATEGORY_ID},"score":{SCORE},'
                f'"segmentations":[{segs}]}}')

