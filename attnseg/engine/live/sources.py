"""Live frame sources behind one small protocol: frames one by one, each with an id and a capture time.

    source = open_source("0")            # webcam index
    source = open_source("clip.mp4", realtime=True)   # a file paced at its own FPS
    source = open_source("rtsp://host/stream")        # network stream (live)
    source = open_source("frames/")                   # an image folder
    source = open_source("synthetic:300")             # generated, for tests and demos
    source = PushSource(); source.push(image, tag)    # frames handed in by a host system (ROS, a robot)
    source = opener("clip.mp4", loop=True)()          # played again from its start each time it ends

A source's `read()` returns the next Frame, or None at the end of the stream;
a live source that loses its device raises SourceDisconnected (attnseg.errors; the
runtime then ends the stream or reconnects, per its setting). `live` sources are
those whose frames go stale: the runtime drops their old frames rather than
queue them; the others (files, folders, synthetic) make it wait.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ...errors import AttnsegError, InputError, SettingError, SourceDisconnected  # noqa: F401 - what a live source raises
from ...settings import DEFAULT_FPS, NETWORK_OPEN_TIMEOUT
from ..frames import decode_frame, frame_files, is_url, open_capture, quiet_video_io
from ..synthetic import SyntheticClip


@dataclass
class Frame:
    id: int  # 0, 1, 2, ... in capture order (ids of dropped frames are skipped, never reused)
    timestamp: float  # time.monotonic() at capture
    image: np.ndarray  # (H, W, 3) uint8 RGB
    tag: Any = None  # the host system's own reference (a ROS header), handed back with the frame's result
    name: str = ""  # the input's own name for it (a folder's file stem); "" for cameras, videos and arrays
    source: int = 0  # which source of a stream of several (the runtime numbers them), else 0


class FrameSource(Protocol):
    live: bool  # frames go stale (camera, network): drop rather than queue
    fps: float  # nominal frames per second (0: unknown)
    name: str

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class _Counter:
    """Frame ids and capture timestamps, plus optional pacing to the nominal FPS: a paced frame's capture time is
    its due time (when a camera would have delivered it), however late it was decoded."""

    def __init__(self, fps: float, realtime: bool):
        self.next_id = 0
        self.period = 1.0 / fps if realtime and fps > 0 else 0.0
        self.start = None

    def stamp(self, image: np.ndarray) -> Frame:
        now = time.monotonic()
        if self.period:
            if self.start is None:
                self.start = now
            due = self.start + self.next_id * self.period
            if due > now:
                time.sleep(due - now)
            now = due
        frame = Frame(self.next_id, now, image)
        self.next_id += 1
        return frame


class CaptureSource:
    """OpenCV VideoCapture: a webcam index, a video file, or an RTSP/HTTP URL."""

    def __init__(self, target: int | str, *, live: bool, realtime: bool = False, name: str | None = None):
        import cv2

        self.target, self.live, self.name = target, live, name or str(target)
        self.cap = open_capture(target)
        if not self.cap.isOpened():
            what = "camera" if isinstance(target, int) else ("stream" if live else "video")
            why = (" (no camera at that index, or it is busy)" if isinstance(target, int) else
                   f" (no answer within {NETWORK_OPEN_TIMEOUT:g} s, refused, or not a video stream)" if is_url(target)
                   else "")
            raise InputError(f"cannot open {what} {target}{why}")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.counter = _Counter(self.fps, realtime and not live)
        self.frames_read = 0
        # a network stream's decoder logs each late or lost packet: attnseg reports the disconnect instead
        self.quiet = quiet_video_io if is_url(target) else contextlib.nullcontext

    def read(self) -> Frame | None:
        import cv2

        with self.quiet():
            ok, bgr = self.cap.read()
        if not ok:
            if self.live:
                raise SourceDisconnected(f"{self.name}: no frame from the device (disconnected?)")
            if self.frames_read == 0:
                raise InputError(f"video {self.name} has no decodable frames (corrupt or empty)")
            return None
        self.frames_read += 1
        return self.counter.stamp(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        self.cap.release()


class FolderSource:
    """Image files of a folder in name order; an unreadable one is an InputError naming it."""

    live = False

    def __init__(self, path: Path, *, fps: float = DEFAULT_FPS, realtime: bool = False):
        self.files = frame_files(path)
        self.name, self.fps, self.index = str(path), fps, 0
        self.counter = _Counter(fps, realtime)

    def read(self) -> Frame | None:
        if self.index >= len(self.files):
            return None
        self.index += 1
        frame = self.counter.stamp(decode_frame(self.files[self.index - 1]))
        frame.name = self.files[self.index - 1].stem
        return frame

    def close(self) -> None:
        pass


class ArraySource:
    """Frames from memory (T, H, W, 3) uint8, or any sequence of (H, W, 3) uint8 frames (the synthetic clip,
    made as it is read); `live` and `fps` as asked."""

    def __init__(self, frames: np.ndarray, *, fps: float = DEFAULT_FPS, realtime: bool = False, live: bool = False,
                 name: str = "arrays"):
        self.frames, self.fps, self.live, self.name = frames, fps, live, name
        self.index = 0
        self.counter = _Counter(fps, realtime or live)  # a live source delivers at its own pace

    def read(self) -> Frame | None:
        if self.index >= len(self.frames):
            return None
        self.index += 1
        return self.counter.stamp(self.frames[self.index - 1])

    def close(self) -> None:
        pass


class PushSource:
    """Frames pushed in by a host system's callback (a ROS subscription, a robot's camera driver).

    Live: it keeps the newest `capacity` frames and drops older unread ones (counted in `dropped`).
    `read()` waits for a frame; after `close()` it returns the frames left, then None (the stream ends).
    """

    live = True

    def __init__(self, *, capacity: int = 1, fps: float = 0.0, name: str = "pushed frames"):
        if capacity < 1:
            raise SettingError(f"capacity must be >= 1, got {capacity}")
        self.fps, self.name, self.dropped = fps, name, 0
        self.frames: deque[Frame] = deque(maxlen=capacity)
        self.ready = threading.Condition()
        self.closed = False
        self.next_id = 0

    def push(self, image: np.ndarray, tag: Any = None) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"a frame is (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
        with self.ready:
            if self.closed:
                return
            if len(self.frames) == self.frames.maxlen:
                self.dropped += 1
            self.frames.append(Frame(self.next_id, time.monotonic(), image, tag))
            self.next_id += 1
            self.ready.notify()

    def read(self) -> Frame | None:
        with self.ready:
            self.ready.wait_for(lambda: self.frames or self.closed)
            return self.frames.popleft() if self.frames else None

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()


class LoopSource:
    """A file, folder or generated source played again from its start each time it ends (`open` makes it anew);
    an empty one ends the stream instead of looping forever."""

    def __init__(self, open: Callable[[], FrameSource]):
        self.open = open
        self.src = open()
        if self.src.live:
            self.src.close()
            raise SettingError(f"loop plays files, folders and synthetic sources again; {self.src.name} is live")
        self.live, self.fps, self.name = False, self.src.fps, self.src.name
        self.played, self.passes = 0, 0  # frames of the current pass, passes finished

    def read(self) -> Frame | None:
        frame = self.src.read()
        if frame is None and self.played:
            self.src.close()
            self.src, self.played = self.open(), 0
            self.passes += 1
            frame = self.src.read()
        self.played += frame is not None
        if frame is not None and self.passes:
            frame.name = ""  # named by its id: a second pass must not overwrite the first pass's outputs
        return frame

    def close(self) -> None:
        self.src.close()


def opener(spec: str | int, *, realtime: bool = False, loop: bool = False) -> Callable[[], FrameSource]:
    """A function that opens the source `spec` names (open_source), anew at each call: how a stream reconnects;
    `loop`: a file, folder or synthetic source plays again each time it ends."""
    def open_once() -> FrameSource:
        return open_source(spec, realtime=realtime)
    return (lambda: LoopSource(open_once)) if loop else open_once


def check_sources(specs: list[str | int]) -> list[bool]:
    """Each source opened and closed again, so that a missing file, a busy camera or a URL that does not answer is
    one line naming it (with several, "source N of M: ...") before any weights load. Closed, not kept: a camera
    or a network stream left open while the weights load would hand over seconds of stale frames at the start.
    Whether each is live (a camera or a network stream, not a file that plays once)."""
    live = []
    for number, spec in enumerate(specs, start=1):
        try:
            source = open_source(spec)
        except AttnsegError as err:
            raise type(err)(f"source {number} of {len(specs)}: {err}" if len(specs) > 1 else str(err)) from None
        live.append(bool(source.live))
        source.close()
    return live


def open_source(spec: str | int, *, realtime: bool = False, fps: float = DEFAULT_FPS,
                size: tuple[int, int] = (240, 320)) -> FrameSource:
    """A source from a CLI string: a camera index, a URL, 'synthetic[:N]', a folder or a video file."""
    text = str(spec)
    if text.isdigit():
        return CaptureSource(int(text), live=True, name=f"camera {text}")
    if "://" in text:
        return CaptureSource(text, live=True)
    if text.startswith("synthetic"):
        count = text.partition(":")[2] or "300"
        if not count.isdigit():
            raise InputError(f"source {text!r}: the frame count after 'synthetic:' must be a whole number, "
                             f"got {count!r}")
        frames = SyntheticClip(int(count), *size)  # made on reading, one at a time
        return ArraySource(frames, fps=fps, realtime=realtime, name=text)
    path = Path(text)
    if not path.exists():
        raise InputError(f"source not found: {text} (a camera index, a URL, 'synthetic[:N]', a folder or a video)")
    if path.is_dir():
        return FolderSource(path, fps=fps, realtime=realtime)
    return CaptureSource(str(path), live=False, realtime=realtime)
