"""The files a run writes, each frame as it comes, each published atomically (attnseg.files).

    LabelPngs(folder)      one PNG label map per frame (DAVIS palette; 16-bit grayscale past id 255), the folder
                           marked as attnseg's (MARKER) so that a later run knows which PNGs are its own
    NpyFrames(dest)        the (T, h, w) int32 .npy, its header written for the frames written when closed
    VideoSink(dest, fps)   the overlay video

Each is built under a temporary name and renamed into place, also after a failure (what is written is kept),
and a killed process's temporary files are found again by attnseg.files.leftovers. The fan-out that drives them
is attnseg.engine.outputs.fanout.
"""
from __future__ import annotations

import contextlib
import logging
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EarlierRunError, OutputError, short_list
from ...files import atomic_path, publish, temp_beside, write_atomic
from ...settings import DEFAULT_FPS
from .drawing import davis_palette, overlay

log = logging.getLogger(__name__)

def write_label_png(dest: str | Path, label_map: np.ndarray, wide: bool | None = None) -> None:
    """One label map as an indexed PNG (DAVIS palette); 16-bit grayscale when `wide`
    (default: when this map has a label above 255)."""
    from PIL import Image

    if wide is None:
        wide = label_map.max(initial=0) > 255
    if not wide:
        img = Image.fromarray(label_map.astype(np.uint8), mode="P")
        img.putpalette(davis_palette().ravel().tolist())
    else:
        img = Image.fromarray(label_map.astype(np.uint16))
    with atomic_path(dest) as tmp:
        img.save(tmp, format="PNG")


MARKER = ".attnseg-labels.txt"  # in a folder of label PNGs: the names attnseg wrote there, a line each, as written
MARKER_HEAD, MARKER_END = "# label PNGs written by attnseg", "# complete"


def _marker(folder: Path) -> list[str] | None:
    """The lines of an attnseg marker in `folder`, or None (no marker: not ours)."""
    try:
        lines = (folder / MARKER).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return lines if lines and lines[0] == MARKER_HEAD else None


def closed_pngs(folder: str | Path) -> bool:
    """Whether `folder` holds the label PNGs of an attnseg run that closed it (its marker is complete)."""
    lines = _marker(Path(folder))
    return bool(lines) and lines[-1] == MARKER_END


def written_pngs(folder: str | Path) -> list[Path] | None:
    """The label PNGs an attnseg run wrote into `folder` (its marker says which), or None when the folder has no
    marker (not ours). A run that never closed its folder (killed) may not have listed them all: then every PNG
    there."""
    folder = Path(folder)
    lines = _marker(folder)
    if lines is None:
        return None
    if lines[-1] != MARKER_END:
        return sorted(folder.glob("*.png"))
    return [folder / f"{name}.png" for name in lines[1:-1] if (folder / f"{name}.png").is_file()]


def earlier_pngs(folder: str | Path, *, overwrite: bool = False, resume: bool = False) -> list[Path]:
    """Refuse a folder of label PNGs that already holds some, so that a run never leaves older PNGs mixed in with
    its own: unless `resume` (its own run's, continued) or `overwrite` (the PNGs an earlier attnseg run wrote
    there are to be removed first: returned; files attnseg did not write are never touched). Nothing is changed
    here (clear_pngs removes them, once the run holds its outputs)."""
    folder = Path(folder)
    if resume or not folder.is_dir():
        return []
    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        return []
    ours = written_pngs(folder)
    if ours is None:
        names = short_list([p.name for p in pngs], 3)
        raise OutputError(f"{folder} holds {len(pngs)} PNGs that attnseg did not write ({names}): name a new or "
                          "empty folder")
    if not overwrite:
        raise EarlierRunError(f"{folder} holds the {len(ours)} label PNGs of an earlier run: overwrite them (only "
                              "those are removed), resume that run if it was interrupted, or name another folder")
    return ours


def clear_pngs(folder: str | Path, pngs: list[Path]) -> None:
    """Remove an earlier run's label PNGs (earlier_pngs) and its marker from `folder`."""
    for path in pngs:
        path.unlink(missing_ok=True)
    if pngs:
        (Path(folder) / MARKER).unlink(missing_ok=True)
        log.info("removed the %d label PNGs of an earlier run from %s", len(pngs), folder)


class LabelPngs:
    """One PNG label map per frame into a folder, each written atomically as it comes, the folder marked as
    attnseg's (MARKER: each name appended as its PNG is written, so memory stays flat whatever the length).

    A frame whose ids all fit in a byte is a palette PNG (DAVIS); once a frame has a larger id (a long video's
    ids grow), it and every later one are 16-bit grayscale, and closing rewrites the earlier ones so (one format
    per folder; readers of either get the ids themselves), saying so once, after the work. `wide` fixes one format
    for every frame (a whole clip's). `keep_existing` keeps a frame's PNG already written (a resumed run: the same frame, the
    same labels) and lists it as written, so the marker ends as an uninterrupted run's does."""

    def __init__(self, folder: str | Path, keep_existing: bool = False, wide: bool | None = None):
        self.folder, self.keep_existing, self.wide = Path(folder), keep_existing, wide
        self.widened: str | None = None  # the first frame with an id above 255 (fixed format: never set)
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / MARKER
        write_atomic(marker, MARKER_HEAD + "\n")  # a resumed run lists every frame again, kept or written
        self.marker = open(marker, "a")

    def write(self, name: str, mask: np.ndarray) -> None:
        path = self.folder / f"{name}.png"
        wide = self.wide if self.wide is not None else (self.widened is not None or mask.max(initial=0) > 255)
        if wide and self.wide is None and self.widened is None:
            self.widened = name  # also from a frame kept by a resumed run: its folder ends in one format too
        if not (self.keep_existing and path.is_file()):
            write_label_png(path, mask, wide)
        self.marker.write(name + "\n")

    def close(self) -> None:
        if not self.marker.closed:
            try:
                self.marker.write(MARKER_END + "\n")
            finally:
                self.marker.close()
            if self.widened is not None:
                self._widen_earlier()

    def _widen_earlier(self) -> None:
        """Every palette PNG of this folder's run rewritten as 16-bit grayscale (the same ids), one file at a time."""
        from PIL import Image

        rewritten = 0
        with open(self.folder / MARKER) as marker:  # line by line: memory stays flat however long the run
            for line in marker:
                path = self.folder / f"{line.rstrip()}.png"
                if line.startswith("#") or not path.is_file():
                    continue
                with Image.open(path) as img:
                    if img.mode != "P":
                        continue
                    ids = np.asarray(img)
                write_label_png(path, ids, wide=True)
                rewritten += 1
        log.warning("ids above 255 from frame %s on: every label PNG in %s is 16-bit grayscale%s", self.widened,
                    self.folder, f" ({rewritten} rewritten from palette PNGs)" if rewritten else "")


class NpyFrames:
    """A (T, h, w) int32 .npy written frame by frame: built under a temporary name, its header rewritten for
    the frames written when closed, then renamed into place (also after a failure: what is written is kept)."""

    HEADER = 128  # bytes: room for any shape's header, so the data never moves

    def __init__(self, dest: str | Path):
        self.dest = Path(dest)
        self.tmp = temp_beside(self.dest)
        self.file = open(self.tmp, "wb")
        self.file.write(b"\0" * self.HEADER)
        self.shape, self.count = None, 0

    def write(self, labels: np.ndarray) -> None:
        labels = np.ascontiguousarray(labels, dtype="<i4")
        if self.shape is None:
            self.shape = labels.shape
        elif labels.shape != self.shape:
            raise ValueError(f"labels of shape {labels.shape} after frames of shape {self.shape}")
        self.file.write(labels.tobytes())
        self.count += 1

    @classmethod
    def header(cls, shape: tuple[int, ...]) -> bytes:
        """An .npy version 1.0 header of exactly HEADER bytes for int32 C-order data of `shape`."""
        text = "{'descr': '<i4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{n}, " for n in shape)
        body = text.ljust(cls.HEADER - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")

    def close(self) -> None:
        if self.file is None:
            return
        file, self.file = self.file, None
        try:
            if self.count:
                file.seek(0)
                file.write(self.header((self.count, *self.shape)))
            file.close()
            if self.count:
                publish(self.tmp, self.dest)
        finally:
            with contextlib.suppress(OSError):  # a full disk fails the close too; the temporary file still goes
                file.close()
            self.tmp.unlink(missing_ok=True)


class VideoSink:
    """A video written frame by frame; `close()` publishes what was written.

    The file is built under a temporary name and moved into place on close, so a
    reader never sees a half-written file and a run that fails keeps its video so far.
    """

    def __init__(self, dest: str | Path, fps: float):
        self.dest, self.fps = Path(dest), fps or DEFAULT_FPS
        self.tmp, self.writer, self.frames = temp_beside(self.dest), None, 0

    def write(self, rgb: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            height, width = rgb.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self.writer.isOpened():
                raise OSError(f"OpenCV cannot write video {self.dest} (try a .mp4 or .avi name)")
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.frames:
            publish(self.tmp, self.dest)
        self.tmp.unlink(missing_ok=True)


# -- a whole clip at once (a SegmentationResult's arrays), through the same writers --------------------------------

def write_label_pngs(out_dir: str | Path, masks: np.ndarray, names: Sequence[str]) -> list[Path]:
    """One PNG per frame, one format for the whole clip (16-bit grayscale when any id is above 255)."""
    pngs = LabelPngs(out_dir, wide=bool(masks.max(initial=0) > 255))
    try:
        for mask, name in zip(masks, names):
            pngs.write(name, mask)
    finally:
        pngs.close()
    return [Path(out_dir) / f"{name}.png" for name in names[:len(masks)]]


def save_labels(dest: str | Path, labels: np.ndarray) -> None:
    """(T, h, w) labels as an int32 .npy."""
    npy = NpyFrames(dest)
    try:
        for frame in labels:
            npy.write(frame)
    finally:
        npy.close()


def write_overlay_video(dest: str | Path, frames: np.ndarray, masks: np.ndarray, fps: float) -> None:
    video = VideoSink(dest, fps)
    try:
        for frame, mask in zip(frames, masks):
            video.write(overlay(frame, mask))
    finally:
        video.close()
