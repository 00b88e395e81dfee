"""Writing results: DAVIS-style PNG label maps, .npy labels, overlay videos.

Every file is written atomically (attnseg.files: a temporary file in the same
folder, then one rename), so an interrupted run never leaves a half-written file behind,
and files written before a failure are kept. Whole clips (write_label_pngs,
save_labels, write_overlay_video) or frame by frame, as a long video's labels
become final (LabelPngs, NpyFrames, VideoSink): those publish what they hold
when closed, also after a failure.
"""
from __future__ import annotations

import contextlib
import logging
import struct
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..files import atomic_path, publish, temp_beside

log = logging.getLogger(__name__)


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS/PASCAL VOC annotations, (256, 3) uint8."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - j)
            c >>= 3
        palette[i] = rgb
    return palette


def upsample_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) patch labels -> (T, H0, W0) with nearest-neighbour upsampling."""
    t = torch.from_numpy(np.ascontiguousarray(labels)).float()[:, None]
    return F.interpolate(t, size=size, mode="nearest")[:, 0].to(torch.int32).numpy()


def label_maps(ids: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One frame's track ids per patch (h*w,) -> (patch ids (h, w) int32, label map (H0, W0) at the frame's size)."""
    patch = ids.view(*grid).to(torch.int32).cpu().numpy()
    return patch, upsample_labels(patch[None], size)[0]


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


def write_label_pngs(out_dir: str | Path, masks: np.ndarray, names: Sequence[str]) -> list[Path]:
    out_dir = Path(out_dir)
    wide = masks.max(initial=0) > 255  # one format for the whole clip
    if wide:
        log.warning("more than 256 labels: PNGs are 16-bit grayscale, not palette images")
    paths = []
    for mask, name in zip(masks, names):
        path = out_dir / f"{name}.png"
        write_label_png(path, mask, wide)
        paths.append(path)
    return paths


def save_labels(dest: str | Path, labels: np.ndarray) -> None:
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        np.save(f, labels.astype(np.int32))


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels whose lower or right neighbour has another label (bool, mask's shape)."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:-1] |= mask[:-1] != mask[1:]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    return edge


def overlay(frame: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the label colours over an RGB frame; label boundaries drawn dark."""
    colours = davis_palette()[(mask % 255) + 1]  # skip black so every label is visible
    out = (frame * (1 - alpha) + colours * alpha).astype(np.uint8)
    out[boundary(mask)] = 0
    return out


def write_overlay_video(dest: str | Path, frames: np.ndarray, masks: np.ndarray, fps: float) -> None:
    import cv2

    height, width = frames.shape[1:3]
    with atomic_path(dest) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write video {dest} (try a .mp4 or .avi name)")
        try:
            for frame, mask in zip(frames, masks):
                writer.write(cv2.cvtColor(overlay(frame, mask), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()


class VideoSink:
    """An overlay video written frame by frame (streaming); `close()` publishes what was written.

    The file is built under a temporary name and moved into place on close, so a
    reader never sees a half-written file and a stream that fails keeps its video so far.
    """

    def __init__(self, dest: str | Path, fps: float):
        self.dest, self.fps = Path(dest), fps or 24.0
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


class LabelPngs:
    """One PNG label map per frame into a folder, each written atomically as it comes.

    A frame whose ids all fit in a byte is a palette PNG (DAVIS); one with a larger id is 16-bit grayscale
    (a long video's ids grow): readers of either get the ids themselves. `keep_existing` skips frames already
    written (a resumed run)."""

    def __init__(self, folder: str | Path, keep_existing: bool = False):
        self.folder, self.keep_existing, self.warned = Path(folder), keep_existing, False
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, mask: np.ndarray) -> None:
        path = self.folder / f"{name}.png"
        if self.keep_existing and path.is_file():
            return
        wide = mask.max(initial=0) > 255
        if wide and not self.warned:
            log.warning("ids above 255 from frame %s on: those PNGs are 16-bit grayscale, not palette images", name)
            self.warned = True
        write_label_png(path, mask, wide)

    def close(self) -> None:
        pass


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
