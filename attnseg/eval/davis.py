"""Evaluate label-map PNGs against a DAVIS-layout dataset (SPEC 7).

Layout: ROOT/JPEGImages/480p/SEQ/*.jpg and ROOT/Annotations/480p/SEQ/*.png
(or Annotations_unsupervised/480p, preferred when present). Annotations are
indexed object ids with 255 = void (DAVIS 2017), or binary 0/255 maps
(DAVIS 2016: one object). Objects are the ids present in any frame.

Results: RESULTS/SEQ/FRAME.png label maps, one per annotated frame, at the
annotation size; every id in them is a proposal (except --background).

Protocols, both matching proposals to objects with the Hungarian method on J + F:
- standard: DAVIS unsupervised. One matching per sequence on the scores
  averaged over frames; at most 20 proposals (the 20 largest by area are
  kept, and the number dropped is reported).
- paper: the authors' released evaluator. Every proposal (up to 300) and a
  new matching in every frame.
Objects without a proposal score as an empty mask, as DAVIS pads them.
All frames are scored (the DAVIS unsupervised toolkit keeps first and last).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import EvalError, NoResultsError, SettingError, short_list
from ..optional import require
from .metrics import pairwise_scores, statistics

PROTOCOLS = {"standard": 20, "paper": 300}  # protocol -> most proposals


@dataclass
class Sequence:
    name: str
    frames: list[str]  # frame ids (file stems)
    objects: np.ndarray  # (O, T, H, W) bool
    void: np.ndarray  # (T, H, W) bool


@dataclass
class SequenceScore:
    name: str
    j: np.ndarray  # (O, T)
    f: np.ndarray  # (O, T)
    proposals: int
    dropped: int = 0

    def summary(self) -> dict:
        out = {"objects": int(self.j.shape[0]), "proposals": self.proposals, "dropped_proposals": self.dropped}
        for name, values in (("J", self.j), ("F", self.f)):
            stats = np.array([statistics(v) for v in values])
            out[name], out[f"{name}_recall"], out[f"{name}_decay"] = (float(x) for x in stats.mean(0))
        out["J&F"] = (out["J"] + out["F"]) / 2
        return out


@dataclass
class EvalReport:
    protocol: str
    sequences: list[SequenceScore] = field(default_factory=list)
    annotated: int = 0  # the annotated sequences of the dataset (those evaluated are `sequences`)

    def to_dict(self) -> dict:
        per_object = {"J": [], "F": []}
        for s in self.sequences:
            for name, values in (("J", s.j), ("F", s.f)):
                per_object[name] += [statistics(v) for v in values]
        out = {"protocol": self.protocol, "max_proposals": PROTOCOLS[self.protocol]}
        for name, stats in per_object.items():
            stats = np.array(stats)
            out[name], out[f"{name}_recall"], out[f"{name}_decay"] = (float(x) for x in stats.mean(0))
        out["J&F"] = (out["J"] + out["F"]) / 2
        out["sequences"] = {s.name: s.summary() for s in self.sequences}
        out["annotated_sequences"] = self.annotated
        return out


def _read_png(path: Path) -> tuple[np.ndarray, str]:
    try:
        with Image.open(path) as im:
            return np.array(im), im.mode
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from None


def annotation_dir(root: Path, annotations: str = "auto") -> Path:
    names = ["Annotations_unsupervised", "Annotations"] if annotations == "auto" else [annotations]
    for name in names:
        if (root / name / "480p").is_dir():
            return root / name / "480p"
    raise EvalError(f"no {' or '.join(n + '/480p' for n in names)} under {root}")


def load_sequence(root: str | Path, name: str, annotations: str = "auto") -> Sequence:
    folder = annotation_dir(Path(root), annotations) / name
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise EvalError(f"no annotation PNGs in {folder}")
    maps, modes = zip(*(_read_png(p) for p in paths))
    if len({m.shape for m in maps}) != 1:
        raise EvalError(f"annotations of {name} differ in size")
    maps = np.stack(maps)
    binary = modes[0] != "P" and set(np.unique(maps)) <= {0, 255}
    if binary:  # DAVIS 2016: 255 is the object, there is no void
        ids, void = [255], np.zeros(maps.shape, dtype=bool)
    else:
        void = maps == 255
        ids = [int(i) for i in np.unique(maps) if i not in (0, 255)]
    objects = np.stack([maps == i for i in ids]) if ids else np.zeros((0, *maps.shape), dtype=bool)
    return Sequence(name, [p.stem for p in paths], objects, void)


def read_results(results: str | Path, seq: Sequence, single: bool = False) -> np.ndarray:
    """(T, H, W) label maps for the annotated frames of `seq`."""
    folder = result_folder(results, seq.name, single)
    if folder is None:
        raise NoResultsError(f"no results for {seq.name}: expected {Path(results) / seq.name}/FRAME.png, one label PNG "
                             f"per annotated frame (as segment and stream write into {Path(results) / seq.name}, and "
                             f"batch into {results}); or leave {seq.name} out of the sequences evaluated")
    missing = [f for f in seq.frames if not (folder / f"{f}.png").is_file()]
    if missing:
        raise EvalError(f"{len(missing)} of {len(seq.frames)} result PNGs missing in {folder} (first: "
                        f"{missing[0]}.png): expected one label PNG per annotated frame, named as its annotation")
    labels = np.stack([_read_png(folder / f"{f}.png")[0] for f in seq.frames])
    if labels.ndim != 3 or labels.shape[1:] != seq.void.shape[1:]:
        raise EvalError(f"results of {seq.name} are {labels.shape[1:]}, annotations are {seq.void.shape[1:]}: "
                        "write masks at the frame size (as the segmenter's label PNGs are)")
    return labels.astype(np.int64)


def choose_proposals(labels: np.ndarray, limit: int, background: int | None) -> tuple[list[int], int]:
    """The ids DAVIS scores: the `limit` largest by area (the background left out), and how many were left out."""
    ids, area = np.unique(labels, return_counts=True)
    keep = ids != background if background is not None else np.ones(len(ids), dtype=bool)
    ids, area = ids[keep], area[keep]
    order = np.argsort(-area, kind="stable")[:limit]
    return sorted(int(i) for i in ids[order]), len(ids) - len(order)


def evaluate_sequence(seq: Sequence, labels: np.ndarray, protocol: str = "standard",
                      background: int | None = None) -> SequenceScore:
    require("scipy", extra="eval", what="evaluate")  # the Hungarian matching
    from scipy.optimize import linear_sum_assignment

    if protocol not in PROTOCOLS:
        raise SettingError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    ids, dropped = choose_proposals(labels, PROTOCOLS[protocol], background)
    n_obj, n_frames = seq.objects.shape[:2]
    empty = max(0, n_obj - len(ids))  # DAVIS pads missing proposals with empty masks
    pad_id = int(labels.max()) + 1
    all_ids = ids + [pad_id] * empty
    j = np.zeros((len(all_ids), n_obj, n_frames))
    f = np.zeros((len(all_ids), n_obj, n_frames))
    for t in range(n_frames):
        j[:, :, t], f[:, :, t] = pairwise_scores(seq.objects[:, t], labels[t], all_ids, seq.void[t])
    out_j, out_f = np.zeros((n_obj, n_frames)), np.zeros((n_obj, n_frames))
    if protocol == "standard":
        rows, cols = linear_sum_assignment(-(j + f).mean(2))
        out_j[cols], out_f[cols] = j[rows, cols], f[rows, cols]
    else:
        for t in range(n_frames):
            rows, cols = linear_sum_assignment(-(j[:, :, t] + f[:, :, t]))
            out_j[cols, t], out_f[cols, t] = j[rows, cols, t], f[rows, cols, t]
    return SequenceScore(seq.name, out_j, out_f, len(ids), dropped)


def result_folder(results: str | Path, name: str, single: bool = False) -> Path | None:
    """Where the label PNGs of sequence `name` are: RESULTS/NAME (what segment, stream and batch write), or its
    labels/ subfolder (what batch wrote before 0.2); with `single`, RESULTS itself when it holds the PNGs."""
    folder = Path(results) / name
    for candidate in (folder, folder / "labels", *((Path(results),) if single else ())):
        if candidate.is_dir() and next(candidate.glob("*.png"), None) is not None:
            return candidate
    return folder if folder.is_dir() else None


def list_sequences(root: str | Path, annotations: str = "auto") -> list[str]:
    return sorted(p.name for p in annotation_dir(Path(root), annotations).iterdir() if p.is_dir())


def evaluate(root: str | Path, results: str | Path, protocol: str = "standard", sequences: list[str] | None = None,
             annotations: str = "auto", background: int | None = None, progress=None) -> EvalReport:
    require("scipy", extra="eval", what="evaluate")  # before any reading
    if protocol not in PROTOCOLS:
        raise SettingError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    known = list_sequences(root, annotations)
    if not Path(results).is_dir():
        raise EvalError(f"no results folder {results}: expected RESULTS/SEQUENCE/FRAME.png label maps")
    names = sequences or [n for n in known if result_folder(results, n) is not None]
    if not names:
        raise NoResultsError(f"{results} holds no folder named as an annotated sequence of {root} "
                             f"({short_list(known)}): expected RESULTS/SEQUENCE/FRAME.png; for a single sequence's "
                             "PNGs, name that sequence")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise EvalError(f"unknown sequences {short_list(unknown)}; {root} has {short_list(known)}")
    report = EvalReport(protocol, annotated=len(known))
    for name in names:
        seq = load_sequence(root, name, annotations)
        labels = read_results(results, seq, single=len(names) == 1)
        report.sequences.append(evaluate_sequence(seq, labels, protocol, background))
        if progress:
            progress(name)
    return report
