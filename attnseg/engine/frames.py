"""Reading a clip: a folder of frames (sorted by name), a video file, or arrays.

Every failure is an `InputError` with one actionable sentence: a missing path,
an empty folder, an unreadable frame (named), a video that will not open or
has no frames, frames of different sizes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Clip:
    """Decoded RGB frames (T, H0, W0, 3) uint8, their names and the clip's frame rate."""

    frames: np.ndarray
    names: list[str]
    fps: float = 24.0

    def __len__(self) -> int:
        return len(self.frames)


def _stack(frames: Sequence[np.ndarray], names: Sequence[str]) -> np.ndarray:
    first = frames[0].shape
    for f, name in zip(frames, names):
        if f.shape != first:
            raise InputError(f"frame {name} is {f.shape[1]}x{f.shape[0]}, but the first frame is "
                             f"{first[1]}x{first[0]}; all frames of a clip must share one size")
    return np.stack(frames)


def frame_files(path: Path) -> list[Path]:
    """The image files of a folder, in name order; none is an InputError."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no image frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {path}")
    return files


def decode_frame(path: Path) -> np.ndarray:
    """One image file as RGB uint8; an unreadable one is an InputError naming it."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot decode frame {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_folder(path: Path) -> Clip:
    files = frame_files(path)
    return Clip(_stack([decode_frame(f) for f in files], [f.name for f in files]), [f.stem for f in files])


def open_capture(target: int | str):
    """cv2.VideoCapture(target), opened quietly: FFmpeg's and OpenCV's own lines about a file or camera
    they cannot open ("moov atom not found", "can't open camera by index") stay off the terminal; the
    caller raises its one error instead. OPENCV_FFMPEG_LOGLEVEL set by the user wins."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read at FFmpeg's first use
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(target)
    finally:
        cv2.utils.logging.setLogLevel(level)


def read_video(path: Path) -> Clip:
    import cv2

    cap = open_capture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (unsupported or corrupt file)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    frames = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise InputError(f"video {path} has no decodable frames (corrupt or empty)")
    names = [f"{i:05d}" for i in range(len(frames))]
    return Clip(_stack(frames, names), names, float(fps))


def read_clip(source: Clip | str | Path | np.ndarray | Sequence[np.ndarray]) -> Clip:
    """A clip from a path (folder of frames or video file) or RGB uint8 arrays (T, H, W, 3).

    An already decoded Clip is returned as it is.
    """
    if isinstance(source, Clip):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"input not found: {path}")
        return read_folder(path) if path.is_dir() else read_video(path)
    frames = [np.asarray(f) for f in source]
    if not frames:
        raise InputError("no frames given")
    for i, f in enumerate(frames):
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise InputError(f"frame {i}: expected an RGB uint8 array (H, W, 3), got {f.dtype} {f.shape}")
    names = [f"{i:05d}" for i in range(len(frames))]
    return Clip(_stack(frames, names), names)
