"""DAVIS dataset reading, both matching protocols, and `attnseg eval`."""
import json

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
from attnseg.engine.outputs.fanout import davis_palette
from attnseg.eval import EvalError, evaluate, load_sequence
from tests.conftest import DAVIS

H, W = 48, 64


def write_png(path, array, palette=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array.astype(np.uint8), mode="P" if palette else "L")
    if palette:
        im.putpalette(davis_palette().astype(np.uint8).ravel().tolist())
    im.save(path)


@pytest.fixture
def davis_root(tmp_path):
    """One sequence 'seq', 4 frames, object 1 (left block) and object 2 (right block), a void strip."""
    root = tmp_path / "davis"
    for t in range(4):
        ann = np.zeros((H, W), dtype=np.uint8)
        ann[10:30, 5:25] = 1
        ann[10:30, 35:60] = 2
        ann[0:2, :] = 255
        write_png(root / "Annotations/480p/seq" / f"{t:05d}.png", ann)
        (root / "JPEGImages/480p/seq").mkdir(parents=True, exist_ok=True)
    return root


def labels_for(t, swap):
    """Proposal 3 covers object 1 in frames 0-1 and object 2 in frames 2-3 when swap, else always object 1."""
    lab = np.zeros((H, W), dtype=np.uint8)
    first, second = (3, 4) if (t < 2 or not swap) else (4, 3)
    lab[10:30, 5:25] = first
    lab[10:30, 35:60] = second
    return lab


def write_results(root, swap):
    for t in range(4):
        write_png(root / "seq" / f"{t:05d}.png", labels_for(t, swap))


def test_perfect_results_score_one(davis_root, tmp_path):
    write_results(tmp_path / "res", swap=False)
    for protocol in ("standard", "paper"):
        report = evaluate(davis_root, tmp_path / "res", protocol).to_dict()
        assert report["J"] == pytest.approx(1.0) and report["F"] == pytest.approx(1.0)
        assert report["sequences"]["seq"]["objects"] == 2


def test_protocols_differ_on_swapped_ids(davis_root, tmp_path):
    # Ids swap halfway: per-frame matching (paper) still scores 1; one matching per sequence
    # (standard) gets each object right in exactly half the frames, and the other half
    # scores J = 0 (disjoint blocks) and F = 0 (boundaries 10+ pixels apart, r = 1).
    write_results(tmp_path / "res", swap=True)
    paper = evaluate(davis_root, tmp_path / "res", "paper").to_dict()
    standard = evaluate(davis_root, tmp_path / "res", "standard").to_dict()
    assert paper["J&F"] == pytest.approx(1.0)
    assert standard["J"] == pytest.approx(0.5) and standard["F"] == pytest.approx(0.5)
    assert paper["protocol"] == "paper" and standard["protocol"] == "standard"


def test_void_pixels_are_ignored(davis_root, tmp_path):
    for t in range(4):
        lab = labels_for(t, False)
        lab[0:2, :] = 3  # a proposal that spills into the void strip only there
        write_png(tmp_path / "res/seq" / f"{t:05d}.png", lab)
    report = evaluate(davis_root, tmp_path / "res", "standard").to_dict()
    assert report["J"] == pytest.approx(1.0)


def test_standard_keeps_the_20_largest_proposals(davis_root, tmp_path):
    for t in range(4):
        lab = labels_for(t, False)
        lab[40:48, :] = 10 + np.arange(W) // 3  # 22 thin proposals, smaller than the objects
        write_png(tmp_path / "res/seq" / f"{t:05d}.png", lab)
    s = evaluate(davis_root, tmp_path / "res", "standard").to_dict()["sequences"]["seq"]
    assert s["proposals"] == 20 and s["dropped_proposals"] == 5  # 25 ids: 0, 3, 4 and 22 strips
    assert s["J"] == pytest.approx(1.0)


def test_the_paper_protocol_keeps_the_300_largest_proposals(davis_root, tmp_path):
    for t in range(4):
        lab = labels_for(t, False).astype(np.int32)
        strips = lab[32:48].reshape(-1)  # below the objects: 1024 pixels
        strips[:930] = 10 + np.arange(930) // 3  # 310 proposals of 3 pixels each, smaller than anything else
        lab[32:48] = strips.reshape(16, W)
        path = tmp_path / "res/seq" / f"{t:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lab.astype(np.uint16)).save(path)  # 16-bit: ids above 255
    s = evaluate(davis_root, tmp_path / "res", "paper").to_dict()["sequences"]["seq"]
    assert s["proposals"] == 300 and s["dropped_proposals"] == 13  # 313 ids: 0, 3, 4 and 310 strips
    assert s["J"] == pytest.approx(1.0)  # the objects' own proposals are among the largest


def test_cli_background_is_not_a_proposal(davis_root, tmp_path, capsys):
    """Label 0 covers object 1 and everything else; label 4 is object 2. Without --background, 0 is object 1's
    proposal (J = its 400 pixels over the 2444 non-void pixels labelled 0); with it, object 1 has none (J = 0)."""
    for t in range(4):
        lab = np.zeros((H, W), dtype=np.uint8)
        lab[10:30, 35:60] = 4
        write_png(tmp_path / "res/seq" / f"{t:05d}.png", lab)
    scores = {}
    for flags in ([], ["--background", "0"]):
        out = tmp_path / f"scores{len(flags)}.json"
        assert main(["eval", "--davis-root", str(davis_root), "--results", str(tmp_path / "res"), "--json", str(out),
                     *flags]) == 0
        scores[len(flags)] = json.loads(out.read_text())
    assert scores[0]["J"] == pytest.approx((400 / 2444 + 1) / 2) and scores[0]["sequences"]["seq"]["proposals"] == 2
    assert scores[2]["J"] == pytest.approx(0.5) and scores[2]["sequences"]["seq"]["proposals"] == 1


def test_cli_annotations_choose_the_folder(davis_root, tmp_path):
    """auto prefers Annotations_unsupervised when present; --annotations Annotations takes the other."""
    for t in range(4):
        ann = np.zeros((H, W), dtype=np.uint8)
        ann[10:30, 5:25] = 1  # object 1 only
        write_png(davis_root / "Annotations_unsupervised/480p/seq" / f"{t:05d}.png", ann)
    write_results(tmp_path / "res", swap=False)
    objects = {}
    for choice in ("auto", "Annotations_unsupervised", "Annotations"):
        out = tmp_path / f"{choice}.json"
        assert main(["eval", "--davis-root", str(davis_root), "--results", str(tmp_path / "res"), "--json", str(out),
                     "--annotations", choice]) == 0
        objects[choice] = json.loads(out.read_text())["sequences"]["seq"]["objects"]
    assert objects == {"auto": 1, "Annotations_unsupervised": 1, "Annotations": 2}


def test_binary_davis2016_annotations_are_one_object(tmp_path):
    ann = np.zeros((H, W), dtype=np.uint8)
    ann[5:20, 5:20] = 255
    write_png(tmp_path / "d/Annotations/480p/s/00000.png", ann, palette=False)
    seq = load_sequence(tmp_path / "d", "s")
    assert seq.objects.shape == (1, 1, H, W) and not seq.void.any()


def test_missing_and_misfit_results_fail_clearly(davis_root, tmp_path):
    with pytest.raises(EvalError, match="no results folder"):
        evaluate(davis_root, tmp_path / "nothing")
    for t in range(4):
        write_png(tmp_path / "res/seq" / f"{t:05d}.png", np.zeros((H // 2, W // 2)))
    with pytest.raises(EvalError, match="frame size"):
        evaluate(davis_root, tmp_path / "res")
    with pytest.raises(EvalError, match="unknown sequences"):
        evaluate(davis_root, tmp_path / "res", sequences=["nope"])


def test_cli_eval_prints_table_and_writes_json(davis_root, tmp_path, capsys):
    write_results(tmp_path / "res", swap=True)
    out = tmp_path / "scores.json"
    assert main(["eval", "--davis-root", str(davis_root), "--results", str(tmp_path / "res"),
                 "--protocol", "paper", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "protocol: paper" in text and "seq" in text
    data = json.loads(out.read_text())
    assert {"protocol", "J&F", "J", "F", "sequences"} <= data.keys()
    # ids swap halfway, and the paper's protocol matches every frame anew: every object is found in every frame
    assert data["J"] == pytest.approx(1.0) and data["F"] == pytest.approx(1.0)
    assert data["sequences"]["seq"]["J"] == pytest.approx(1.0) and data["sequences"]["seq"]["proposals"] == 3
    assert main(["eval", "--davis-root", str(tmp_path / "nowhere"), "--results", str(tmp_path)]) == 2


@pytest.mark.skipif(not (DAVIS / "Annotations").is_dir(), reason="../shared/data/davis16 not present")
def test_real_davis_annotations_against_themselves():
    ann = DAVIS / "Annotations/480p"
    report = evaluate(DAVIS, ann, "standard", sequences=["blackswan"]).to_dict()
    assert report["J&F"] == pytest.approx(1.0)
