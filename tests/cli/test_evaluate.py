"""`attnseg eval` on what `attnseg segment` wrote."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
from tests.cli.helpers import LONG
from tests.conftest import davis_frames


def test_eval_scores_chunked_outputs(tmp_path, capsys):
    frames = davis_frames("car-shadow")
    davis = frames.parents[2]
    results = tmp_path / "results" / "car-shadow"
    assert main(["segment", str(frames), *LONG[:-3], "--chunk", "10", "--out", str(results), "--no-progress"]) == 0
    assert "chunks of 10 frames" in capsys.readouterr().out
    assert main(["eval", "--davis-root", str(davis), "--results", str(tmp_path / "results"), "--sequences",
                 "car-shadow", "--json", str(tmp_path / "scores.json")]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    j, proposals = standard_j(davis, results, "car-shadow")
    assert scores["J"] == pytest.approx(j) and scores["sequences"]["car-shadow"]["proposals"] == proposals


def standard_j(davis, results, name: str) -> tuple[float, int]:
    """The standard protocol's J of a one-object (DAVIS 2016) sequence, assembled here from the region and
    boundary measures alone: of the 20 proposals largest over the sequence, the one with the best mean J + F
    is the object's match (Hungarian matching with one object), and J is its mean over every frame. Returns J
    and the number of proposals."""
    from attnseg.eval.metrics import boundary_f, jaccard

    annotations = sorted((davis / "Annotations" / "480p" / name).glob("*.png"))
    objects = [np.array(Image.open(p)) > 0 for p in annotations]
    labels = np.stack([np.array(Image.open(results / f"{p.stem}.png")) for p in annotations])
    ids, area = np.unique(labels, return_counts=True)
    best, proposals = (-1.0, 0.0), ids[np.argsort(-area, kind="stable")[:20]]
    for proposal in proposals:
        j = np.mean([jaccard(o, m) for o, m in zip(objects, labels == proposal)])
        f = np.mean([boundary_f(o, m) for o, m in zip(objects, labels == proposal)])
        best = max(best, (j + f, j))
    return best[1], len(proposals)


def synthetic_davis(root, frames: int = 6):
    """A DAVIS layout of the synthetic clip: JPEGImages/480p/synth/00000.jpg ..., its two objects annotated."""
    from attnseg.engine.outputs.drawing import davis_palette
    from attnseg.engine.synthetic import synthetic_clip

    images, ids = synthetic_clip(frames, 96, 128)
    (root / "JPEGImages" / "480p" / "synth").mkdir(parents=True)
    (root / "Annotations" / "480p" / "synth").mkdir(parents=True)
    (root / "Annotations" / "480p" / "other").mkdir(parents=True)  # annotated, never segmented
    for i, (image, objects) in enumerate(zip(images, ids)):
        Image.fromarray(image).save(root / "JPEGImages" / "480p" / "synth" / f"{i:05d}.jpg", quality=95)
        png = Image.fromarray(objects, mode="P")
        png.putpalette(davis_palette().ravel().tolist())
        png.save(root / "Annotations" / "480p" / "synth" / f"{i:05d}.png")
        png.save(root / "Annotations" / "480p" / "other" / f"{i:05d}.png")
    return root / "JPEGImages" / "480p" / "synth"


def test_segment_batch_and_stream_write_what_eval_reads(tmp_path, capsys):
    """One layout: the three commands name the PNGs as the input's frames and number ids from 0, and eval reads
    each of their outputs as written, scoring the sequences that have results."""
    frames = synthetic_davis(tmp_path / "davis")
    model = ["--random-weights", "--arch", "vit_small_16", "--qk-gain", "8", "--resolution", "64", "96"]
    assert main(["segment", str(frames), *model, "--out", str(tmp_path / "seg" / "synth"), "--no-progress"]) == 0
    assert main(["batch", str(frames), *model, "--out", str(tmp_path / "batch")]) == 0
    assert main(["stream", str(frames), *model, "--out", str(tmp_path / "stream" / "synth"), "--window", "6",
                 "--no-causal"]) == 0
    names = [f"{i:05d}.png" for i in range(6)]
    scores = {}
    for run in ("seg", "batch", "stream"):
        folder = tmp_path / run / "synth"
        assert sorted(p.name for p in folder.glob("*.png")) == names
        assert min(np.array(Image.open(folder / n)).min() for n in names) == 0  # ids count from 0 everywhere
        capsys.readouterr()
        assert main(["eval", "--davis-root", str(tmp_path / "davis"), "--results", str(tmp_path / run),
                     "--json", str(tmp_path / f"{run}.json")]) == 0
        assert "1 of 2 annotated sequences (those with results)" in capsys.readouterr().out
        scores[run] = json.loads((tmp_path / f"{run}.json").read_text())
        assert list(scores[run]["sequences"]) == ["synth"]
    assert scores["seg"]["J"] == scores["batch"]["J"]  # the same pipeline, the same labels


def test_eval_says_where_it_looked_and_what_it_expected(tmp_path, capsys):
    synthetic_davis(tmp_path / "davis")
    results = tmp_path / "results"
    (results / "synth").mkdir(parents=True)
    Image.fromarray(np.zeros((96, 128), np.uint8)).save(results / "synth" / "00000.png")
    args = ["eval", "--davis-root", str(tmp_path / "davis"), "--results"]
    assert main([*args, str(results)]) == 2
    err = capsys.readouterr().err
    assert f"5 of 6 result PNGs missing in {results / 'synth'} (first: 00001.png)" in err and "named as" in err
    assert main([*args, str(results), "--sequences", "other"]) == 2
    err = capsys.readouterr().err
    assert f"no results for other: expected {results / 'other'}/FRAME.png" in err and "sequences evaluated" in err
    assert main([*args, str(tmp_path / "davis")]) == 2
    assert "holds no folder named as an annotated sequence" in capsys.readouterr().err


def test_eval_reads_the_former_batch_layout(tmp_path, capsys):
    """batch wrote OUT/<name>/labels/*.png before: those results still evaluate."""
    frames = synthetic_davis(tmp_path / "davis")
    for i, f in enumerate(sorted(frames.parent.parent.parent.glob("Annotations/480p/synth/*.png"))):
        (tmp_path / "old" / "synth" / "labels").mkdir(parents=True, exist_ok=True)
        Image.open(f).save(tmp_path / "old" / "synth" / "labels" / f.name)
    assert main(["eval", "--davis-root", str(tmp_path / "davis"), "--results", str(tmp_path / "old"), "--json",
                 str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["J"] == pytest.approx(1.0)  # the annotations themselves
