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
