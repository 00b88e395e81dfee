"""Reading a clip: a folder of frames (sorted by name), a video file, or arrays.

Two ways: `read_clip` decodes a whole clip into memory (short clips, the
paper's single-piece pipeline); `FrameReader` hands out one frame at a time, so
a video of any length is read in bounded memory (the chunked pipeline).

Every failure is an `InputError` with one actionable sentence: a missing path,
an empty folder, an unreadable frame (named), a video that will not open or
has no frames, frames of different sizes, a video that ends before the frame
count its header announces (truncated or corrupt). A folder takes regular files
only (a FIFO named like a frame would block the read forever), and a frame's
size is read from its header before it is decoded: one of more than
MAX_FRAME_PIXELS is refused without the memory its decoding would take.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..settings import (DEFAULT_FPS, MAX_FRAME_PIXELS, NETWORK_CAPTURE_OPTIONS, NETWORK_OPEN_TIMEOUT,
                        NETWORK_READ_TIMEOUT)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Clip:
    """Decoded RGB frames (T, H0, W0, 3) uint8, their names and the clip's frame rate."""

    frames: np.ndarray
    names: list[str]
    fps: float = DEFAULT_FPS

    def __len__(self) -> int:
        return len(self.frames)


def frame_files(path: Path) -> list[Path]:
    """The image files of a folder, in name order; none is an InputError, and so is one that is not a regular file
    (a FIFO, a device, a folder named like a frame)."""
    from ..files import kind_of

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no image frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {path}")
    for f in files:
        if not f.is_file():  # a link to a regular file is read as that file
            raise InputError(f"frame {f} is a {kind_of(f)}, not a regular file: a frame folder holds image files")
    return files


def check_frame_size(width: int, height: int, what: str) -> None:
    """Refuse a frame of more than MAX_FRAME_PIXELS (its size as its header gives it, before decoding)."""
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(f"{what} is {width}x{height}, more than the {MAX_FRAME_PIXELS / 2**20:g} megapixels a frame may have "
                         "(resize it first)")


def decode_frame(path: Path) -> np.ndarray:
    """One image file as RGB uint8; an unreadable one is an InputError naming it, and so is one too large to decode
    (its header read first)."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as header:  # reads the header only
            size = header.size
    except Image.DecompressionBombError:  # beyond Pillow's own limit, far above ours
        raise InputError(f"frame {path} is over {2 * Image.MAX_IMAGE_PIXELS / 2**20:.0f} megapixels, more than the "
                         f"{MAX_FRAME_PIXELS / 2**20:g} a frame may have (resize it first)") from None
    except (UnidentifiedImageError, OSError, ValueError):
        size = None  # not a format Pillow reads: OpenCV decodes it under its own limit, or refuses it below
    if size:
        check_frame_size(*size, f"frame {path}")
    try:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:  # beyond OpenCV's own limits
        bgr = None
    if bgr is None:
        raise InputError(f"cannot decode frame {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


AV_LOG_QUIET = -8


_AVUTIL = []  # the library once found: /proc/self/maps is read until then, not for every frame


def _libavutil():
    """FFmpeg's libavutil as this process loaded it (OpenCV's own copy), or None (not Linux, not loaded)."""
    import ctypes

    if _AVUTIL:
        return _AVUTIL[0]
    try:
        with open("/proc/self/maps") as maps:
            path = next((line.split()[-1] for line in maps if "libavutil" in line), None)
        if path:
            _AVUTIL.append(ctypes.CDLL(path))
        return _AVUTIL[0] if _AVUTIL else None
    except OSError:
        return None


@contextlib.contextmanager
def quiet_video_io():
    """FFmpeg's and OpenCV's own log lines off the terminal while the block runs ("moov atom not found",
    "can't open camera by index"): attnseg raises its one error instead. FFmpeg reads its level from
    OPENCV_FFMPEG_LOGLEVEL at its first use in a process (a value the user set wins) and, when it was
    used before, from av_log_set_level; both levels are restored afterwards."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(AV_LOG_QUIET))
    av = _libavutil()
    av_level = av.av_log_get_level() if av else None
    cv_level = cv2.utils.logging.getLogLevel()
    if av and os.environ["OPENCV_FFMPEG_LOGLEVEL"] == str(AV_LOG_QUIET):
        av.av_log_set_level(AV_LOG_QUIET)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(cv_level)
        if av:
            av.av_log_set_level(av_level)


def is_url(target: int | str) -> bool:
    return isinstance(target, str) and "://" in target


def open_capture(target: int | str):
    """cv2.VideoCapture(target), opened quietly (quiet_video_io): the caller raises its one error. A network stream
    gets FFmpeg with the open and read timeouts of attnseg.settings (OpenCV's own are 30 s each) and, unless the
    user set OPENCV_FFMPEG_CAPTURE_OPTIONS, NETWORK_CAPTURE_OPTIONS (no read-ahead burst at the start)."""
    import cv2

    with quiet_video_io():
        if not is_url(target):
            return cv2.VideoCapture(target)
        own = "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ  # a user's own options win
        if own:
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = NETWORK_CAPTURE_OPTIONS  # read by OpenCV at each opening
        try:
            return cv2.VideoCapture(target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(NETWORK_OPEN_TIMEOUT * 1e3),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(NETWORK_READ_TIMEOUT * 1e3)])
        finally:
            if own:
                del os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"]


@dataclass(frozen=True)
class VideoInfo:
    """What is known before decoding: frame count (None for an iterable of arrays), frame rate, source."""

    count: int | None
    fps: float
    source: str


class FrameReader:
    """(name, RGB uint8 frame) one at a time from a folder, a video file, or arrays (a sequence or any iterable).

    The path is checked when the reader is made (it exists, the folder has frames, the video opens), so a
    bad input fails before any weights load. Each iteration decodes afresh from `start`: a second pass (the
    overlay video, a resumed run) reads the same frames again instead of keeping them. A frame that cannot
    be decoded, or one of another size than the first, raises an InputError naming it when it is reached.
    """

    def __init__(self, source: str | Path | Clip | np.ndarray | Iterable[np.ndarray]):
        self.source, self.path = source, None
        if isinstance(source, (str, Path)):
            self.path = Path(source)
            if not self.path.exists():
                raise InputError(f"input not found: {self.path}")
            if self.path.is_dir():
                self.files = frame_files(self.path)
                self.info = VideoInfo(len(self.files), DEFAULT_FPS, str(self.path))
            else:
                self.info = self._probe_video()
        elif isinstance(source, Clip):
            self.info = VideoInfo(len(source), source.fps, "frames")
        elif isinstance(source, (np.ndarray, Sequence)):
            self.info = VideoInfo(len(source), DEFAULT_FPS, "frames")
        else:
            self.info = VideoInfo(None, DEFAULT_FPS, "frames")  # an iterator: read once, count unknown
            self._used = False

    def _probe_video(self) -> VideoInfo:
        import cv2

        cap = open_capture(str(self.path))
        try:
            if not cap.isOpened():
                raise InputError(f"cannot open video {self.path} (unsupported or corrupt file)")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
            check_frame_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                             f"a frame of video {self.path}")
        finally:
            cap.release()
        return VideoInfo(count if count > 0 else None, float(fps), str(self.path))

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        return self.frames()

    def frames(self, start: int = 0) -> Iterator[tuple[str, np.ndarray]]:
        """Frames from index `start` on (the ones before are skipped, decoding as little as the format allows)."""
        first_shape = None
        for i, (name, frame) in enumerate(self._decode(start), start):
            if first_shape is None:
                first_shape = frame.shape
            elif frame.shape != first_shape:
                raise InputError(f"frame {name} is {frame.shape[1]}x{frame.shape[0]}, but the first frame is "
                                 f"{first_shape[1]}x{first_shape[0]}; all frames of a clip must share one size")
            yield name, frame

    def _decode(self, start: int) -> Iterator[tuple[str, np.ndarray]]:
        if self.path is not None and self.path.is_dir():
            for f in self.files[start:]:
                yield f.stem, decode_frame(f)
        elif self.path is not None:
            yield from self._decode_video(start)
        else:
            frames = self.source.frames if isinstance(self.source, Clip) else self.source
            names = self.source.names if isinstance(self.source, Clip) else None
            if self.info.count is None:
                if self._used:
                    raise InputError("an iterator of frames can be read only once; pass a list or an array")
                self._used = True
            for i, f in enumerate(frames):
                if i < start:
                    continue
                f = np.asarray(f)
                if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                    raise InputError(f"frame {i}: expected an RGB uint8 array (H, W, 3), got {f.dtype} {f.shape}")
                yield (names[i] if names else f"{i:05d}"), f

    def _decode_video(self, start: int) -> Iterator[tuple[str, np.ndarray]]:
        import cv2

        cap = open_capture(str(self.path))
        if not cap.isOpened():
            raise InputError(f"cannot open video {self.path} (unsupported or corrupt file)")
        i = 0
        try:
            while i < start and cap.grab():  # skipped frames are demuxed and decoded, never converted
                i += 1
            while True:
                with quiet_video_io():  # FFmpeg's decoder warnings too ("deprecated pixel format used")
                    ok, bgr = cap.read()
                if not ok:
                    break
                yield f"{i:05d}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()
        expected = self.info.count
        if i == 0:
            raise InputError(f"video {self.path} has no decodable frames (corrupt or empty)")
        if expected and i < expected - 1:  # headers may count one frame more than decodes
            raise InputError(f"video {self.path} broke at frame {i} of the {expected} its header announces "
                             f"(truncated or corrupt)")


def read_clip(source: Clip | str | Path | np.ndarray | Sequence[np.ndarray]) -> Clip:
    """A whole clip in memory, from a path (folder of frames or video file) or RGB uint8 arrays (T, H, W, 3):
    FrameReader's frames, stacked. An already decoded Clip is returned as it is."""
    if isinstance(source, Clip):
        return source
    reader = FrameReader(source)
    names, frames = [], []
    for name, frame in reader:
        names.append(name)
        frames.append(frame)
    if not frames:
        raise InputError("no frames given")
    return Clip(np.stack(frames), names, reader.info.fps)
