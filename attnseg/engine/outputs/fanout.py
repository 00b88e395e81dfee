"""What a run writes, and the one fan-out that writes it, offline and live.

    sinks = Outputs(out="masks/", labels="labels.npy", overlay="overlay.mp4").open(fps=24.0)
    sinks.write(OutputFrame(index, name, labels, mask, stamp_ns, image=rgb))   # every frame, as it is final
    sinks.close()                                                               # publishes every output

`Outputs` names the outputs of a run (each optional): a PNG label map per frame (DAVIS palette), the (T, h, w)
int32 .npy labels, the overlay video, COCO run-length masks (YouTube-VIS results, attnseg.engine.outputs.coco), a rosbag2,
and any other sink a face adds (the ZeroMQ publisher of `attnseg stream`, the live page of the demo). `Sinks`
takes each frame to each of them in order: `attnseg segment`, `batch` and the Python API through
attnseg.engine.offline.runs, `attnseg stream` and the demo from the
streaming runtime's results. A frame's overlay is drawn once, and only when a sink shows it.

Every file is written atomically (attnseg.files: a temporary file in the same folder, then one rename), so an
interrupted run never leaves a half-written file, and the frames written before a failure are kept: closing
publishes what each output holds, also after a failure, and an OSError names the file it concerns. Before any
work, `Outputs.check` refuses what a run must not replace: a path that is not a regular file (a device, a FIFO, a
symbolic link), an existing file unless `overwrite`, a folder holding PNGs of another run.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import OutputError, OutputExistsError
from ...files import kind_of, leftovers, leftovers_in, replaceable, temp_beside
from ..masks import Maps, OnMaps
from .coco import CocoResults
from .drawing import davis_palette, overlay  # noqa: F401 - davis_palette: read from here too
from .writers import (MARKER, LabelPngs, NpyFrames, VideoSink, clear_pngs, closed_pngs, earlier_pngs,  # noqa: F401
                      save_labels, write_label_pngs, write_overlay_video, written_pngs)

log = logging.getLogger(__name__)


class OutputFrame(OnMaps):
    """One segmented frame, as the outputs take it: its label maps (attnseg.engine.masks.Maps) given, or made when
    an output first asks for them (`maps`: a stream's, whose carried frames get their flow only then)."""

    def __init__(self, index: int, name: str, labels: np.ndarray | None = None, mask: np.ndarray | None = None,
                 stamp_ns: int = 0, image: np.ndarray | None = None, latency: float | None = None,
                 stats: dict | None = None, *, captured: float | None = None, carried: bool = False,
                 grid: np.ndarray | None = None, source: int = 0, tag: Any = None, maps: Maps | None = None):
        self.index = index  # its number in the video, or its id in the stream
        self.name = name  # the stem of its PNG
        self.maps = maps if maps is not None else Maps(labels, mask, grid)
        self.stamp_ns = stamp_ns  # wall-clock stamp of its messages (rosbag2, ZeroMQ)
        self.image = image  # (H0, W0, 3) uint8 RGB: what the overlay is drawn on
        self.latency = latency  # seconds from capture (a stream)
        self.stats = stats  # the streaming runtime's figures at this frame (the live page)
        self.captured = captured  # time.monotonic() at capture (a stream): displays measure from here
        self.carried = carried  # labels carried by optical flow, not segmented (a stream)
        self.source = source  # which of a stream's sources it came from (several cameras), else 0
        self.tag = tag  # the source's reference for the frame (a PushSource: what its host pushed with it)

    @functools.cached_property
    def overlay(self) -> np.ndarray:
        return overlay(self.image, self.grid)

    @functools.cached_property
    def present(self) -> np.ndarray:
        """The ids in this frame (counted per patch: cheap)."""
        return np.unique(self.labels)


@dataclass
class Sink:
    """One output: its writer, how a frame reaches it, and the file its errors name."""

    writer: Any  # has close(), when owned
    put: Callable[[Any, OutputFrame], None]
    path: Callable[[OutputFrame], Any] = lambda frame: None
    needs_images: bool = False
    owned: bool = True  # closing the outputs closes the writer; False: its owner does (the page that stays up)
    newest: bool = False  # shows the newest frame only (the live page): a stream also hands it each frame at once,
    # as soon as it is read, carried (StreamRuntime.stream's preview); older frames reach it after, and are not shown

    def write(self, frame: OutputFrame) -> None:
        with _naming(self.path(frame)):
            self.put(self.writer, frame)

    def close(self) -> None:
        if self.owned:
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
    coco: str | Path | None = None  # COCO RLE per object and frame, YouTube-VIS results layout (attnseg.engine.outputs.coco)
    bag: Callable[[], object] | None = None  # opens the rosbag2 sink (attnseg.integrations.rosbag.RosbagSink)
    bag_path: str | Path | None = None
    bag_overlay: bool = False  # the overlay into the bag too
    extra: list[Callable[[], Sink]] = field(default_factory=list)  # more sinks (ZeroMQ, the page), written last
    overwrite: bool = False  # `out` may hold an earlier run's label PNGs: they are removed first (claim_folder)

    def paths(self) -> list[Path]:
        return [Path(p) for p in (self.out, self.labels, self.overlay, self.coco, self.bag_path) if p]

    def files(self) -> list[Path]:
        """The outputs that are one file each (replaced as a whole when published)."""
        return [Path(p) for p in (self.labels, self.overlay, self.coco) if p]

    def check(self, *, resume: bool = False, also: Sequence[str | Path] = ()) -> list[Path]:
        """Before any work: each output (and each file of `also`, the stats a command writes) can be made where it
        is named and replaces nothing it must not: a path that exists and is not a regular file (a device, a FIFO,
        a socket, a symbolic link) is refused, and so is an existing file unless `overwrite` (or `resume`: the
        interrupted run's own); the PNG folder may hold no PNGs of another run (earlier_pngs). Returns the earlier
        run's PNGs that `overwrite` removes once the run begins (clear_earlier)."""
        earlier = earlier_pngs(self.out, overwrite=self.overwrite, resume=resume) if self.out else []
        for path in [*self.files(), *map(Path, also)]:
            why = replaceable(path)
            if why:
                raise OutputError(f"cannot write {path}: {why}; name a file")
            if kind_of(path) == "file" and not (self.overwrite or resume):
                raise OutputExistsError(f"{path} exists: overwrite replaces it, or name another file")
        for path in [*self.paths(), *map(Path, also)]:
            folder = path if path == Path(self.out or "") else path.parent  # a bag's own folder: made by its writer
            try:
                folder.mkdir(parents=True, exist_ok=True)
                temp_beside(folder / "probe").unlink()
            except OSError as err:
                raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
        return earlier

    def complete(self) -> bool:
        """Every output is there as a run that ended leaves it: each file published, the PNG folder closed, the
        bag made."""
        return bool(self.paths()) and all(kind_of(p) == "file" for p in self.files()) and \
            (not self.out or closed_pngs(self.out)) and (not self.bag_path or Path(self.bag_path).is_dir())

    def clear_earlier(self, earlier: list[Path]) -> None:
        """Remove the earlier run's PNGs that check() found (with `overwrite`), once this run holds its outputs."""
        if self.out:
            clear_pngs(self.out, earlier)

    def leftovers(self) -> list[Path]:
        """The temporary files that a killed run left beside its outputs (attnseg.files.leftovers)."""
        found = [p for f in self.files() for p in leftovers(f, (".spool",))]  # COCO spools its runs
        return found + (leftovers_in(self.out) if self.out else [])

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
