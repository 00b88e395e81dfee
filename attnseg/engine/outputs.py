"""What a run writes, and the one fan-out that writes it, offline and live.

    sinks = Outputs(out="masks/", labels="labels.npy", overlay="overlay.mp4").open(fps=24.0)
    sinks.write(OutputFrame(index, name, labels, mask, stamp_ns, image=rgb))   # every frame, as it is final
    sinks.close()                                                               # publishes every output

`Outputs` names the outputs of a run (each optional): a PNG label map per frame (DAVIS palette), the (T, h, w)
int32 .npy labels, the overlay video, COCO run-length masks (YouTube-VIS results, attnseg.engine.coco), a rosbag2,
and any other sink a face adds (the ZeroMQ publisher of `attnseg stream`, the live page of the demo). `Sinks`
takes each frame to each of them in order: `attnseg segment`, `batch` and the Python API through
attnseg.engine.runs, `attnseg stream` and the demo from the
streaming runtime's results. A frame's overlay is drawn once, and only when a sink shows it.

Every file is written atomically (attnseg.files: a temporary file in the same folder, then one rename), so an
interrupted run never leaves a half-written file, and the frames written before a failure are kept: closing
publishes what each output holds, also after a failure, and an OSError names the file it concerns.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import EarlierRunError, OutputError, short_list
from ..files import atomic_path, publish, temp_beside, write_atomic
from ..settings import DEFAULT_FPS
from .coco import CocoResults
from .drawing import davis_palette, overlay

log = logging.getLogger(__name__)


@dataclass
class OutputFrame:
    """One segmented frame, as the outputs take it."""

    index: int  # its number in the video, or its id in the stream
    name: str  # the stem of its PNG
    labels: np.ndarray  # (h, w) int32 ids per patch
    mask: np.ndarray  # (H0, W0) int32 ids at the frame's size
    stamp_ns: int = 0  # wall-clock stamp of its messages (rosbag2, ZeroMQ)
    image: np.ndarray | None = None  # (H0, W0, 3) uint8 RGB: what the overlay is drawn on
    latency: float | None = None  # seconds from capture (a stream)
    stats: dict | None = None  # the streaming runtime's figures at this frame (the live page)
    captured: float | None = None  # time.monotonic() at capture (a stream): displays measure from here
    carried: bool = False  # labels carried by optical flow, not segmented (a stream)
    grid: np.ndarray | None = None  # the coarsest map `mask` is the nearest upsampling of (None: labels)
    source: int = 0  # which of a stream's sources it came from (several cameras), else 0

    def __post_init__(self):
        if self.grid is None:
            self.grid = self.labels

    @functools.cached_property
    def overlay(self) -> np.ndarray:
        return overlay(self.image, self.mask)

    @functools.cached_property
    def present(self) -> np.ndarray:
        """The ids in this frame (counted per patch: cheap)."""
        return np.unique(self.labels)


@dataclass
class Sink:
    """One output: its writer, how a frame reaches it, and the file its errors name."""

    writer: Any  # has close()
    put: Callable[[Any, OutputFrame], None]
    path: Callable[[OutputFrame], Any] = lambda frame: None
    needs_images: bool = False

    def write(self, frame: OutputFrame) -> None:
        with _naming(self.path(frame)):
            self.put(self.writer, frame)

    def close(self) -> None:
        self.writer.close()


class Sinks:
    """The fan-out: each frame to every sink, in order; `close()` publishes every output with what it holds, the
    first failure raised after all were tried."""

    def __init__(self, sinks: Sequence[Sink]):
        self.sinks, self.written = list(sinks), 0

    @property
    def needs_images(self) -> bool:
        return any(s.needs_images for s in self.sinks)

    def write(self, frame: OutputFrame) -> None:
        for sink in self.sinks:
            sink.write(frame)
        self.written += 1

    def close(self) -> None:
        failure = None
        for sink in self.sinks:
            try:
                sink.close()
            except OSError as err:
                failure = failure or err
        if failure:
            raise failure


@dataclass
class Outputs:
    """What a run writes; each is optional."""

    out: str | Path | None = None  # folder: one PNG label map per frame
    labels: str | Path | None = None  # (T, h, w) int32 .npy
    overlay: str | Path | None = None  # overlay video
    coco: str | Path | None = None  # COCO RLE per object and frame, YouTube-VIS results layout (attnseg.engine.coco)
    bag: Callable[[], object] | None = None  # opens the rosbag2 sink (attnseg.integrations.rosbag.RosbagSink)
    bag_path: str | Path | None = None
    bag_overlay: bool = False  # the overlay into the bag too
    extra: list[Callable[[], Sink]] = field(default_factory=list)  # more sinks (ZeroMQ, the page), written last
    overwrite: bool = False  # `out` may hold an earlier run's label PNGs: they are removed first (claim_folder)

    def paths(self) -> list[Path]:
        return [Path(p) for p in (self.out, self.labels, self.overlay, self.coco, self.bag_path) if p]

    def state_dir(self) -> Path | None:
        """Where a resumable run keeps its state: a hidden folder beside the first output."""
        paths = self.paths()
        return paths[0].parent / f".{paths[0].name}.attnseg-run" if paths else None

    @property
    def needs_images(self) -> bool:
        return bool(self.overlay) or (self.bag is not None and self.bag_overlay)

    def open(self, fps: float, keep_pngs: bool = False) -> Sinks:
        """The sinks, opened. They are written in the order PNGs, .npy, overlay, COCO, bag, extra ones, but opened the
        other way round: what can fail for a reason of its own (a busy address, an existing bag) fails before any
        file is made. `keep_pngs`: PNGs already written stay (a resumed run)."""
        files: list[Sink] = []
        bag: list[Sink] = []
        extra: list[Sink] = []
        try:
            for open_sink in self.extra:
                extra.append(open_sink())
            if self.bag:
                bag.append(Sink(self.bag(), self._to_bag, lambda f: self.bag_path, needs_images=self.bag_overlay))
            if self.out:
                folder = Path(self.out)
                files.append(Sink(LabelPngs(folder, keep_existing=keep_pngs), lambda w, f: w.write(f.name, f.mask),
                                  lambda f: folder / f"{f.name}.png"))
            if self.labels:
                files.append(Sink(NpyFrames(self.labels), lambda w, f: w.write(f.labels), lambda f: self.labels))
            if self.overlay:
                files.append(Sink(VideoSink(self.overlay, fps), lambda w, f: w.write(f.overlay), lambda f: self.overlay,
                                  needs_images=True))
            if self.coco:  # a stream's sources are its videos, numbered from 1
                files.append(Sink(CocoResults(self.coco), lambda w, f: w.write(f.index, f.mask, f.source + 1),
                                  lambda f: self.coco))
        except BaseException:
            with contextlib.suppress(OSError):
                Sinks(files + bag + extra).close()
            raise
        return Sinks(files + bag + extra)

    def _to_bag(self, bag, frame: OutputFrame) -> None:
        bag.write(frame.stamp_ns, frame.mask, frame.overlay if self.bag_overlay else None)


def numbered(path: str | Path, number: int, folder: bool = False) -> str:
    """The output `path` of source `number` of a stream of several: a `folder` of PNGs gets a subfolder "number"
    (masks -> masks/2), a file the number before its suffix (labels.npy -> labels.2.npy), a name without a suffix
    (a rosbag2) the number after it (bag -> bag.2)."""
    p = Path(path)
    if folder:
        return str(p / str(number))
    return str(p.with_name(f"{p.stem}.{number}{p.suffix}")) if p.suffix else f"{p}.{number}"


@contextlib.contextmanager
def _naming(path):
    """An OSError raised in the block names `path` when it names no file itself (PIL, OpenCV)."""
    try:
        yield
    except OSError as err:
        if not err.filename and path:
            err.filename = str(path)
        raise


# -- the writers ------------------------------------------------------------------------------------------------

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


def written_pngs(folder: str | Path) -> list[Path] | None:
    """The label PNGs an attnseg run wrote into `folder` (its marker says which), or None when the folder has no
    marker (not ours). A run that never closed its folder (killed) may not have listed them all: then every PNG
    there."""
    folder = Path(folder)
    try:
        lines = (folder / MARKER).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != MARKER_HEAD:
        return None
    if lines[-1] != MARKER_END:
        return sorted(folder.glob("*.png"))
    return [folder / f"{name}.png" for name in lines[1:-1] if (folder / f"{name}.png").is_file()]


def claim_folder(folder: str | Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse a folder of label PNGs that already holds some, so that a run never leaves older PNGs mixed in with
    its own: unless `resume` (its own run's, continued) or `overwrite` (the PNGs an earlier attnseg run wrote
    there are removed first; files attnseg did not write are never touched)."""
    folder = Path(folder)
    if resume or not folder.is_dir():
        return
    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        return
    ours = written_pngs(folder)
    if ours is None:
        names = short_list([p.name for p in pngs], 3)
        raise OutputError(f"{folder} holds {len(pngs)} PNGs that attnseg did not write ({names}): name a new or "
                          "empty folder")
    if not overwrite:
        raise EarlierRunError(f"{folder} holds the {len(ours)} label PNGs of an earlier run: overwrite them (only "
                              "those are removed), resume that run if it was interrupted, or name another folder")
    for path in ours:
        path.unlink(missing_ok=True)
    (folder / MARKER).unlink(missing_ok=True)
    log.info("removed the %d label PNGs of an earlier run from %s", len(ours), folder)


class LabelPngs:
    """One PNG label map per frame into a folder, each written atomically as it comes, the folder marked as
    attnseg's (MARKER: each name appended as its PNG is written, so memory stays flat whatever the length).

    A frame whose ids all fit in a byte is a palette PNG (DAVIS); one with a larger id is 16-bit grayscale
    (a long video's ids grow): readers of either get the ids themselves. `wide` fixes one format for every frame
    (a whole clip's). `keep_existing` skips frames already written (a resumed run)."""

    def __init__(self, folder: str | Path, keep_existing: bool = False, wide: bool | None = None):
        self.folder, self.keep_existing, self.wide, self.warned = Path(folder), keep_existing, wide, False
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / MARKER
        if not (keep_existing and written_pngs(self.folder) is not None):  # a resumed run goes on with its list
            write_atomic(marker, MARKER_HEAD + "\n")
        self.marker = open(marker, "a")

    def write(self, name: str, mask: np.ndarray) -> None:
        path = self.folder / f"{name}.png"
        if self.keep_existing and path.is_file():
            return
        wide = mask.max(initial=0) > 255 if self.wide is None else self.wide
        if wide and not self.warned:
            log.warning("ids above 255 from frame %s on: those PNGs are 16-bit grayscale, not palette images", name)
            self.warned = True
        write_label_png(path, mask, wide)
        self.marker.write(name + "\n")

    def close(self) -> None:
        if not self.marker.closed:
            self.marker.write(MARKER_END + "\n")
            self.marker.close()


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
    for mask, name in zip(masks, names):
        pngs.write(name, mask)
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
