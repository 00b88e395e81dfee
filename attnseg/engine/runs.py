"""Segmenting a video into files as its labels become final, in bounded memory, resumable.

    summary = segment_to_files(segmenter, "long.mp4", Outputs(out="labels/", labels="labels.npy"))
    summary = segment_to_files(segmenter, "long.mp4", Outputs(...), resume=True)   # after Ctrl-C or a crash

The path `attnseg segment` and `attnseg batch` run. Frames stream from the
input (FrameReader), chunk by chunk through the offline pipeline
(attnseg.engine.offline.iter_chunks), and every frame goes through the output
fan-out (attnseg.engine.outputs) as soon as its chunk is done: a PNG per frame,
the .npy labels, the overlay video (its frames decoded a second time, never
kept) and the rosbag2. A failure (Ctrl-C, a video that breaks mid-way, a full
disk) keeps every frame written: the outputs are published with what they hold.

Resuming: beside the first output a hidden folder (RunState) keeps the patch
labels and names of the finished chunks and the linker's state after the
last of them, committed chunk by chunk. `resume=True` checks that input,
settings, weights and outputs are the run's own, rewrites the incremental
outputs for the finished frames from the kept labels (PNGs already written
are kept), and continues at the next chunk: the result equals an
uninterrupted run's. The folder is removed when a run completes.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError, OutputError, SettingError
from ..files import temp_beside, write_atomic
from ..settings import DEFAULT_FPS
from .frames import FrameReader
from .masks import upsample_labels
from .offline import ChunkResult, StageProgress, iter_chunks
from .outputs import MARKER, OutputFrame, Outputs, claim_folder
from .planning import plan_chunk
from .timing import StageTimer, peak_resident_bytes, resident_bytes

log = logging.getLogger(__name__)


class RunState:
    """A run's resumable state: state.json (the run's fingerprint, the frames finished, the bag's first
    stamp), labels.i32 and names.txt (appended chunk by chunk) and link.pt (the linker after the last chunk).
    state.json is written last, atomically: it is the commit point of a chunk."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.frames = 0
        self.info: dict = {}

    def exists(self) -> bool:
        return (self.folder / "state.json").is_file()

    def start(self, fingerprint: dict) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.info = {"fingerprint": fingerprint, "frames": 0, "chunks": 0, "stamp0": time.time_ns()}
        write_atomic(self.folder / "state.json", json.dumps(self.info))

    def load(self, fingerprint: dict) -> dict | None:
        """The linker's state to continue with; refuses a state that is not this run's."""
        if not self.exists():
            raise SettingError(f"nothing to resume: no interrupted run's state at {self.folder}")
        self.info = json.loads((self.folder / "state.json").read_text())
        kept = self.info["fingerprint"]
        changed = sorted(k for k in set(kept) | set(fingerprint) if kept.get(k) != fingerprint.get(k))
        if changed:
            raise SettingError(f"cannot resume: the interrupted run differs in its {', '.join(changed)}; run it with "
                               f"its own settings, or without resume to start over")
        self.frames = self.info["frames"]
        size = self.frames * int(np.prod(fingerprint["patch grid"])) * 4
        with open(self.folder / "labels.i32", "r+b") as f:  # drop what a chunk that never committed appended
            f.truncate(size)
        names = (self.folder / "names.txt").read_text().splitlines()[:self.frames]
        (self.folder / "names.txt").write_text("".join(n + "\n" for n in names))
        return torch.load(self.folder / "link.pt", weights_only=True) if self.frames else None

    def finished(self) -> list[tuple[str, np.ndarray]]:
        """(name, patch labels) of the frames finished before, from the disk (memory-mapped)."""
        grid = tuple(self.info["fingerprint"]["patch grid"])
        if not self.frames:
            return []
        labels = np.memmap(self.folder / "labels.i32", dtype="<i4", mode="r", shape=(self.frames, *grid))
        names = (self.folder / "names.txt").read_text().splitlines()
        return list(zip(names, labels))

    def commit(self, chunk: ChunkResult) -> None:
        with open(self.folder / "labels.i32", "ab") as f:
            f.write(np.ascontiguousarray(chunk.labels, dtype="<i4").tobytes())
            f.flush()
            os.fsync(f.fileno())
        with open(self.folder / "names.txt", "a") as f:
            f.write("".join(n + "\n" for n in chunk.names))
        link = io.BytesIO()
        torch.save(chunk.link, link)  # into memory first: a failed write is then an OSError like any other
        write_atomic(self.folder / "link.pt", link.getvalue())
        self.frames += len(chunk)
        self.info.update(frames=self.frames, chunks=chunk.index + 1)
        write_atomic(self.folder / "state.json", json.dumps(self.info))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fingerprint(segmenter, reader: FrameReader, chunk: int, outputs: Outputs) -> dict:
    """What must not change between a run and its resumption (JSON values)."""
    source = reader.info.source
    stat = Path(source).stat() if reader.path is not None else None
    config = {k: str(v) if not isinstance(v, (int, float, bool, type(None))) else v
              for k, v in dataclasses.asdict(segmenter.config).items()}
    return {"input": str(Path(source).resolve()) if stat else source, "frame count": reader.info.count,
            "input size": stat.st_size if stat and reader.path.is_file() else None,
            "input time": stat.st_mtime_ns if stat else None, "settings": config,
            "weights": segmenter.weights.sha256, "chunk length": chunk, "device": str(segmenter.device),
            "patch grid": list(segmenter.grid),
            "outputs": [str(p.resolve()) for p in outputs.paths()]}


def check_writable(outputs: Outputs, resume: bool = False) -> None:
    """Each output's folder can take a file now (created if missing), and a folder of label PNGs holds no older
    ones (claim_folder): before any work, not after."""
    if outputs.out:
        claim_folder(outputs.out, overwrite=outputs.overwrite, resume=resume)
    for path in outputs.paths():
        folder = path if outputs.out and path == Path(outputs.out) else path.parent
        if folder != path and path.is_dir() and path != Path(outputs.bag_path or ""):
            raise OutputError(f"cannot write {path}: it is a folder; name a file")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temp_beside(folder / "probe").unlink()
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from None


class _Frames:
    """Each finished frame through the fan-out, with its image from a second decoding pass when a sink draws on
    it, and its stamp: frame i at i / fps after the first run's start."""

    def __init__(self, outputs: Outputs, reader: FrameReader, stamp0: int, keep_pngs: bool):
        self.sinks = outputs.open(reader.info.fps, keep_pngs=keep_pngs)
        self.images = reader.frames() if self.sinks.needs_images else None  # in step with the labels
        self.stamp0, self.period = stamp0, 1e9 / (reader.info.fps or DEFAULT_FPS)

    @property
    def written(self) -> int:
        return self.sinks.written

    def write(self, index: int, name: str, labels: np.ndarray, mask: np.ndarray) -> None:
        image = next(self.images)[1] if self.images else None
        self.sinks.write(OutputFrame(index, name, labels, mask, self.stamp0 + round(index * self.period), image))

    def close(self) -> None:
        try:
            self.sinks.close()
        finally:
            if self.images is not None:
                self.images.close()


def _open_state(outputs: Outputs, identity: dict, resume: bool) -> tuple[RunState | None, dict | None]:
    """The run's state (None without outputs) and, resuming, the linker's state to continue with."""
    folder = outputs.state_dir()
    state = RunState(folder) if folder else None
    if resume:
        if state is None:
            raise SettingError("resume continues a run into its outputs: name them")
        return state, state.load(identity)
    if state is not None:
        if state.exists():
            log.warning("starting over: the state of an interrupted run at %s is cleared (resume continues it)",
                        folder)
        state.start(identity)
    return state, None


def _chunk_record(chunk: ChunkResult) -> dict:
    return {"chunk": chunk.index, "start": chunk.start, "frames": len(chunk), "clusters": chunk.clusters,
            "ids": chunk.next_id, "seconds": round(chunk.seconds, 4), "fps": round(len(chunk) / chunk.seconds, 3),
            "rss_mb": round(resident_bytes() / 2**20, 1)}


def segment_to_files(segmenter, source, outputs: Outputs, *, resume: bool = False, progress: bool = False,
                     on_chunk: Callable[[dict], None] | None = None) -> dict:
    """Segment `source` (a path, a FrameReader or arrays) into `outputs`; a flat JSON-ready summary: frames,
    chunks, ids, seconds per stage, peak resident memory. `on_chunk` gets each finished chunk's record (its
    frames, clusters, seconds, frames/s, resident memory) once its frames are written. See the module's doc."""
    reader = source if isinstance(source, FrameReader) else FrameReader(source)
    if outputs.needs_images and reader.info.count is None:
        raise SettingError("an overlay needs an input that can be read twice: pass a path, a list or an array")
    fresh = [outputs.out] if outputs.out and not Path(outputs.out).exists() else []  # made by this run
    check_writable(outputs, resume)
    length = plan_chunk(segmenter, reader.info.count, segmenter.config.chunk)
    state, link = _open_state(outputs, fingerprint(segmenter, reader, length, outputs), resume)
    start = state.frames if state else 0
    timer = StageTimer(segmenter.device)
    began = time.perf_counter()
    bar = StageProgress(reader.info.count, start, "segment") if progress else None
    chunks: list[dict] = []
    ids, finished = (link["next_id"] if link else 0), False
    if resume and outputs.bag_path and Path(outputs.bag_path).exists():  # this run's own bag (the fingerprint says)
        shutil.rmtree(outputs.bag_path)  # rewritten from the kept labels: a bag cannot be appended to
    writers = _Frames(outputs, reader, state.info["stamp0"] if state else time.time_ns(), resume)
    interrupted = False
    try:
        if start:
            with timer("output"):
                size = frame_size(reader)
                for i, (name, labels) in enumerate(state.finished()):  # rewritten from the kept labels
                    labels = np.array(labels)  # off the memory map
                    writers.write(i, name, labels, upsample_labels(labels[None], size)[0])
        for chunk in iter_chunks(segmenter, reader, chunk=length, start=start, link=link, timer=timer, progress=bar):
            with timer("output"):
                for frame in chunk.frames():
                    writers.write(frame.index, frame.name, frame.labels, frame.mask)
                    if bar:
                        bar("writing")
                if state:
                    state.commit(chunk)
            ids = chunk.next_id
            if bar:
                bar.learn(timer.seconds)
            chunks.append(_chunk_record(chunk))
            if on_chunk:
                on_chunk(chunks[-1])
        finished = True
    except KeyboardInterrupt:
        kept = state.frames if state else 0
        if kept:
            raise KeyboardInterrupt(f"{kept} finished frames kept; resume continues after them") from None
        interrupted = True
        raise KeyboardInterrupt("no frame was finished, nothing is left behind" + (
            f" (a clip of {reader.info.count} frames is segmented as one piece)"
            if reader.info.count and length >= reader.info.count else "")) from None
    except InputError as err:
        if writers.written:
            raise InputError(f"{err}; the {writers.written} frames before it were segmented and written") from None
        raise
    except OSError as err:
        kept = f"the {state.frames if state else 0} finished frames are kept"
        raise OutputError(f"cannot write the outputs ({_describe(err)}); {kept}"
                          + ("; resume continues after them" if state and state.frames else "")) from None
    finally:
        if bar:
            bar.close()
        try:
            writers.close()
        except OSError as err:
            if finished:  # else the failure in flight is the one to report; this one follows from it
                raise OutputError(f"cannot finish the outputs ({_describe(err)})") from None
            log.debug("could not finish the outputs after the failure: %s", err)
        if interrupted:  # stopped before any frame was finished: what this run made goes
            _remove_empty(state, fresh)
    if state:
        state.remove()
    timings = {**{k: round(v, 4) for k, v in timer.seconds.items()}, "total": round(time.perf_counter() - began, 4)}
    return {"mode": segmenter.mode.value, "backend": segmenter.backend.value, "kernels": segmenter.kernels,
            "weights": segmenter.weights.source, "frames": writers.written, "resumed_at": start if resume else None,
            "chunk_frames": length, "chunks": len(chunks), "clusters": sum(c["clusters"] for c in chunks), "ids": ids,
            **timings, **certificate(segmenter),
            "peak_rss_mb": round(peak_resident_bytes() / 2**20, 1)}


def certificate(segmenter) -> dict:
    """With --kernels certified: the share of decisions recomputed exactly, its share of the clustering's time
    and the fp32 ties (flat, for --stats-json); else nothing."""
    tally = segmenter.ops.tally
    if tally is None:
        return {}
    figures = tally.as_dict()
    return {"certified_decisions": figures["entries"], "certified_recomputed_fraction": figures["recomputed_fraction"],
            "certified_recompute_time_share": round(figures["recompute_time_share"], 4),
            "certified_fp32_ties": figures["ties"]}


def _remove_empty(state: RunState | None, made: list) -> None:
    """After an interruption that finished no frame: the run's state, and the folders this run made that hold
    nothing but attnseg's marker."""
    if state:
        state.remove()
    for path in map(Path, made):
        if path.is_dir() and all(p.name == MARKER for p in path.iterdir()):
            shutil.rmtree(path, ignore_errors=True)


def _describe(err: OSError) -> str:
    return f"{err.strerror or err}: {err.filename}" if err.filename else str(err.strerror or err)


def frame_size(reader: FrameReader) -> tuple[int, int]:
    frames = reader.frames()
    try:
        return tuple(next(frames)[1].shape[:2])
    finally:
        frames.close()


__all__ = ["Outputs", "RunState", "segment_to_files"]
