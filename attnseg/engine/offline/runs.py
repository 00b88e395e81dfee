"""Segmenting a video into files as its labels become final, in bounded memory, resumable.

    summary = segment_to_files(segmenter, "long.mp4", Outputs(out="labels/", labels="labels.npy"))
    summary = segment_to_files(segmenter, "long.mp4", Outputs(...), resume=True)   # after Ctrl-C or a crash

The path `attnseg segment` and `attnseg batch` run. Frames stream from the
input (FrameReader), chunk by chunk through the offline pipeline
(attnseg.engine.offline.pipeline.iter_chunks), and every frame goes through the output
fan-out (attnseg.engine.outputs.fanout) as soon as its chunk is done: a PNG per frame,
the .npy labels, the overlay video (its frames decoded a second time, never
kept) and the rosbag2. A failure (Ctrl-C, a video that breaks mid-way, a full
disk) keeps every frame written: the outputs are published with what they hold.

Resuming: beside the first output a hidden folder (RunState) keeps the patch
labels and names of the finished chunks and the linker's state after the
last of them, committed chunk by chunk. `resume=True` checks that input,
settings, weights and outputs are the run's own, rewrites the incremental
outputs for the finished frames from the kept labels (PNGs already written
are kept), and continues at the next chunk: the result equals an
uninterrupted run's. The folder is removed when a run completes, with the
temporary files that processes killed before left beside the outputs.

Crash-consistent (attnseg.engine.offline.run_state): a kill at any instant, however
abrupt, leaves a state that `resume=True` completes to the same bytes, and the
folder is locked while a process writes it, so a second command on the same
outputs is refused instead of clearing the first one's state.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import InputError, OutputError, SettingError
from ...settings import DEFAULT_FPS
from ..frames import FrameReader
from ..masks import upsample_labels
from .pipeline import ChunkResult, StageProgress, iter_chunks
from ..outputs.fanout import MARKER, OutputFrame, Outputs
from .planning import plan_chunk
from .run_state import RunState, fingerprint
from ..timing import StageTimer, peak_resident_bytes, resident_bytes

log = logging.getLogger(__name__)


def check_writable(outputs: Outputs, resume: bool = False, also=()) -> None:
    """Before any work: every output can be written and replaces nothing it must not (Outputs.check), and no
    other process is writing this run now (RunState.check_free)."""
    outputs.check(resume=resume, also=also)
    if outputs.state_dir():
        RunState(outputs.state_dir()).check_free()


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


def _open_state(state: RunState | None, identity: dict, resume: bool) -> dict | None:
    """The run's state begun or loaded (its folder locked by the caller); resuming, the linker's state to continue
    with (None: from the first frame)."""
    if resume:
        if state is None:
            raise SettingError("resume continues a run into its outputs: name them")
        if state.begun():  # stopped before its first commit: nothing was finished, it starts from the first frame
            log.warning("the interrupted run had finished no frame: it starts from the first")
            state.start(identity)
            return None
        return state.load(identity)
    if state is not None:
        if state.exists():
            log.warning("starting over: the state of an interrupted run at %s is cleared (resume continues it)",
                        state.folder)
        state.start(identity)
    return None


def _chunk_record(chunk: ChunkResult) -> dict:
    return {"chunk": chunk.index, "start": chunk.start, "frames": len(chunk), "clusters": chunk.clusters,
            "ids": chunk.next_id, "seconds": round(chunk.seconds, 4), "fps": round(len(chunk) / chunk.seconds, 3),
            "rss_mb": round(resident_bytes() / 2**20, 1)}


def segment_to_files(segmenter, source, outputs: Outputs, *, resume: bool = False, progress: bool = False,
                     on_chunk: Callable[[dict], None] | None = None,
                     on_end: Callable[[dict], None] | None = None) -> dict:
    """Segment `source` (a path, a FrameReader or arrays) into `outputs`; a flat JSON-ready summary: frames,
    chunks, ids, seconds per stage, peak resident memory. `on_chunk` gets each finished chunk's record (its
    frames, clusters, seconds, frames/s, resident memory) once its frames are written; `on_end` the summary once
    every output is published, while the run can still be resumed (what it writes is part of the run: the
    stats). See the module's doc."""
    reader = source if isinstance(source, FrameReader) else FrameReader(source)
    if outputs.needs_images and reader.info.count is None:
        raise SettingError("an overlay needs an input that can be read twice: pass a path, a list or an array")
    fresh = [outputs.out] if outputs.out and not Path(outputs.out).exists() else []  # made by this run
    folder = outputs.state_dir()
    if resume and folder is not None and not Path(folder).exists():  # no run was interrupted here: this one starts
        log.warning("nothing to resume into %s (no run was interrupted there): the run starts from the first frame",
                    ", ".join(map(str, outputs.paths())))
        resume = False
    earlier = outputs.check(resume=resume)
    length = plan_chunk(segmenter, reader.info.count, segmenter.config.chunk)
    state = RunState(outputs.state_dir()) if outputs.state_dir() else None
    if state:
        state.lock()  # until this call returns: a second command on these outputs is refused meanwhile
    try:
        link = _open_state(state, fingerprint(segmenter, reader, length, outputs), resume)
        outputs.clear_earlier(earlier)
        run = _Run(segmenter, reader, outputs, state, length, resume, fresh)
        summary = run.go(link, progress, on_chunk)
        if on_end:
            on_end(summary)
        if state:
            state.remove()  # the run is complete: resuming it now says there is nothing to resume
        for path in outputs.leftovers():  # temporary files of processes killed before: this run's outputs are whole
            path.unlink(missing_ok=True)
        return summary
    finally:
        if state:
            state.release()


def completed(outputs: Outputs) -> bool:
    """Whether the run into `outputs` has completed (every output there as it ends, no state left to resume: a
    run killed once it had ended, or resumed twice); what such a run left behind is then removed."""
    folder = outputs.state_dir()
    if folder is None or folder.exists() or not outputs.complete():
        return False
    state = RunState(folder)
    state.lock()  # sweeps the state folder that was being deleted
    try:
        for path in outputs.leftovers():
            path.unlink(missing_ok=True)
        state.remove()  # the one this lock made
    finally:
        state.release()
    return True


class _Run:
    """One segment_to_files call once its state is open: the kept frames rewritten, the chunks segmented, written
    and committed, every failure reported with what was kept."""

    def __init__(self, segmenter, reader: FrameReader, outputs: Outputs, state: RunState | None, length: int,
                 resume: bool, fresh: list):
        self.segmenter, self.reader, self.outputs, self.state = segmenter, reader, outputs, state
        self.length, self.resume, self.fresh = length, resume, fresh
        self.start = state.frames if state else 0
        self.timer = StageTimer(segmenter.device)

    def go(self, link: dict | None, progress: bool, on_chunk) -> dict:
        reader, state, timer, start = self.reader, self.state, self.timer, self.start
        began = time.perf_counter()
        bar = StageProgress(reader.info.count, start, "segment") if progress else None
        chunks: list[dict] = []
        ids, finished, interrupted = (link["next_id"] if link else 0), False, False
        if self.resume and self.outputs.bag_path and Path(self.outputs.bag_path).exists():  # this run's own bag
            shutil.rmtree(self.outputs.bag_path)  # rewritten from the kept labels: a bag cannot be appended to
        writers = _Frames(self.outputs, reader, state.info["stamp0"] if state else time.time_ns(), self.resume)
        try:
            if start:
                with timer("output"):
                    size = frame_size(reader)
                    for i, (name, labels) in enumerate(state.finished()):  # rewritten from the kept labels
                        labels = np.array(labels)  # off the memory map
                        writers.write(i, name, labels, upsample_labels(labels[None], size)[0])
            # a run whose last chunk came short has reached the input's end: only its outputs were left to write
            remaining = iter_chunks(self.segmenter, reader, chunk=self.length, start=start, link=link, timer=timer,
                                    progress=bar) if start % self.length == 0 else ()
            for chunk in remaining:
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
                more = writers.written - kept  # written since the last commit: on disk, and redone when resumed
                also = f" (the {more} written after them are on disk too, and written again)" if more > 0 else ""
                raise KeyboardInterrupt(f"{kept} finished frames kept; resume continues after them{also}") from None
            interrupted = True
            raise KeyboardInterrupt("no frame was finished, nothing is left behind" + (
                f" (a clip of {reader.info.count} frames is segmented as one piece, its masks all at its end; "
                "a chunk of N frames (the chunk setting) cuts it into pieces each kept as it ends, ids linked "
                "across them)"
                if reader.info.count and self.length >= reader.info.count else "")) from None
        except InputError as err:
            if writers.written:
                raise InputError(f"{err}; the {writers.written} frames before it were segmented and written") \
                    from None
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
                _remove_empty(state, self.fresh)
        timings = {**{k: round(v, 4) for k, v in timer.seconds.items()},
                   "total": round(time.perf_counter() - began, 4)}
        return {"mode": self.segmenter.mode.value, "backend": self.segmenter.backend.value,
                "kernels": self.segmenter.kernels, "weights": self.segmenter.weights.source, "frames": writers.written,
                "resumed_at": start if self.resume else None, "chunk_frames": self.length, "chunks": len(chunks),
                "clusters": sum(c["clusters"] for c in chunks), "ids": ids, **timings, **certificate(self.segmenter),
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
