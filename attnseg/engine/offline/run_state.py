"""A resumable run's state on disk: committed in one step per chunk, locked while a process writes it.

    state = RunState(outputs.state_dir())
    state.lock()                      # refuses a folder another live process holds (RunInUseError naming it)
    state.start(fingerprint)          # or: link = state.load(fingerprint), resuming
    state.commit(chunk)               # after the chunk's frames are written
    state.remove()                    # the run is complete
    state.release()

The folder (hidden, beside the run's first output) holds:
- state.json: the run's fingerprint (what must not change to resume it), the frames finished, the stamp of its
  first frame, and the name of the linker's state file; written last, atomically: it is the commit point;
- labels.i32 and names.txt: the patch labels and names of the finished frames, appended chunk by chunk (what a
  chunk that never committed appended is cut off when the run is loaded);
- link.N.pt: the linker after chunk N, a new file per chunk, named by state.json (the one before it is removed
  once state.json names the new one), so that a kill between the two leaves the old state whole;
- lock: the process that holds the folder (an flock: it ends with the process, however it ends).

A kill at any instant leaves one of: no folder (nothing was begun), a folder without state.json (begun, nothing
committed: resuming starts from the first frame), or a state.json whose files are all there. A complete run's
folder is renamed away in one step, then deleted.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ...errors import RunInUseError, SettingError
from ...files import write_atomic

STATE, LABELS, NAMES, LOCK = "state.json", "labels.i32", "names.txt", "lock"
REMOVED = ".removed-"  # a complete run's folder, renamed on its way out


class RunState:
    """A run's resumable state in `folder` (module doc)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.frames = 0
        self.info: dict = {}
        self._lock: int | None = None
        self.inherited = False  # the folder was there before this process locked it (an earlier run's)

    # -- the lock ---------------------------------------------------------------------------------------------

    def lock(self) -> None:
        """Hold the folder (made if missing) for this process, or raise RunInUseError naming the process that
        holds it. The lock is the kernel's: it goes with the process, also when it is killed."""
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no OS lock to take (the state is still committed in one step)
            return
        for stale in self.folder.parent.glob(f"{self.folder.name}{REMOVED}*"):
            shutil.rmtree(stale, ignore_errors=True)  # a complete run's folder, killed while it was deleted
        while True:
            self.inherited = (self.folder / LOCK).is_file()
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunInUseError(f"the run writing into {self.folder.parent} ({self.folder.name}) is in use by "
                                    f"{holder}: wait for it to end, or stop it first") from None
            try:  # the folder may have gone (a run that completed) between the open and the lock: try again
                same = os.stat(self.folder / LOCK).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} ({_command()})\n".encode())
        self._lock = fd

    def check_free(self) -> None:
        """Raise RunInUseError now if another process holds the folder (before the weights load); holds nothing."""
        if not (self.folder / LOCK).is_file():
            return
        self.lock()
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- the state ----------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.folder / STATE).is_file()

    def begun(self) -> bool:
        """An earlier run began here and was stopped before its first commit (its folder, without state.json)."""
        return self.inherited and not self.exists()

    def start(self, fingerprint: dict) -> None:
        """A new run: the state of any earlier one is cleared (state.json first: it no longer commits anything)."""
        (self.folder / STATE).unlink(missing_ok=True)
        for path in self.folder.iterdir():
            if path.name != LOCK:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        (self.folder / LABELS).write_bytes(b"")
        (self.folder / NAMES).write_bytes(b"")
        self.frames = 0
        self.info = {"fingerprint": fingerprint, "frames": 0, "chunks": 0, "stamp0": time.time_ns(), "link": None}
        write_atomic(self.folder / STATE, json.dumps(self.info))

    def load(self, fingerprint: dict) -> dict | None:
        """The linker's state to continue with; refuses a state that is not this run's. What was appended or written
        after the last commit is cut off or removed (each step of it repeatable: a kill here changes nothing)."""
        if not self.exists():
            if not self.inherited:
                self.remove()  # made by this call's lock
            raise SettingError(f"nothing to resume: no interrupted run's state at {self.folder}")
        self.info = json.loads((self.folder / STATE).read_text())
        kept = self.info["fingerprint"]
        changed = sorted(k for k in set(kept) | set(fingerprint) if kept.get(k) != fingerprint.get(k))
        if changed:
            raise SettingError(f"cannot resume: the interrupted run differs in its {', '.join(changed)}; run it with "
                               f"its own settings, or without resume to start over")
        self.frames = self.info["frames"]
        with open(self.folder / LABELS, "r+b") as f:
            f.truncate(self.frames * int(np.prod(fingerprint["patch grid"])) * 4)
        with open(self.folder / NAMES, "r+b") as f:  # line by line: memory stays flat however long the run
            for _ in range(self.frames):
                f.readline()
            f.truncate(f.tell())
        self.info.setdefault("link", "link.pt" if self.frames else None)  # a state written before link.N.pt
        for stale in self.folder.glob("link.*.pt"):  # written by a chunk that never committed
            if stale.name != self.info["link"]:
                stale.unlink()
        return torch.load(self.folder / self.info["link"], weights_only=True) if self.info["link"] else None

    def finished(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, patch labels) of the frames finished before, one at a time from the disk (memory-mapped)."""
        if not self.frames:
            return
        grid = tuple(self.info["fingerprint"]["patch grid"])
        labels = np.memmap(self.folder / LABELS, dtype="<i4", mode="r", shape=(self.frames, *grid))
        with open(self.folder / NAMES) as names:
            for labels_of_frame, name in zip(labels, names):
                yield name.rstrip("\n"), labels_of_frame

    def commit(self, chunk) -> None:
        """A chunk's frames are written: its labels, names and the linker after it join the state, in one step
        (state.json naming them, written last)."""
        with open(self.folder / LABELS, "ab") as f:
            f.write(np.ascontiguousarray(chunk.labels, dtype="<i4").tobytes())
            f.flush()
            os.fsync(f.fileno())
        with open(self.folder / NAMES, "a") as f:
            f.write("".join(n + "\n" for n in chunk.names))
            f.flush()
            os.fsync(f.fileno())
        link = io.BytesIO()
        torch.save(chunk.link, link)  # into memory first: a failed write is then an OSError like any other
        name, old = f"link.{chunk.index + 1}.pt", self.info["link"]
        write_atomic(self.folder / name, link.getvalue())
        self.frames += len(chunk)
        self.info.update(frames=self.frames, chunks=chunk.index + 1, link=name)
        write_atomic(self.folder / STATE, json.dumps(self.info))
        if old and old != name:
            (self.folder / old).unlink(missing_ok=True)

    def remove(self) -> None:
        """The run is complete: its folder goes, renamed away first (one step), then deleted."""
        if not self.folder.is_dir():
            return
        gone = self.folder.with_name(f"{self.folder.name}{REMOVED}{uuid.uuid4().hex[:8]}")
        os.replace(self.folder, gone)
        shutil.rmtree(gone, ignore_errors=True)


def _command() -> str:
    """This process's command, as its user typed it (`attnseg ...` for the CLI, however it was started)."""
    argv = list(sys.argv)
    if argv and (Path(argv[0]).name == "attnseg" or argv[0].endswith(os.path.join("attnseg", "__main__.py"))):
        argv[0] = "attnseg"
    return " ".join(argv)[:1000]


def fingerprint(segmenter, reader, chunk: int, outputs) -> dict:
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
