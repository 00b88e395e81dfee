"""`attnseg segment`: what it writes, its kernels, and its one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
from tests.cli.helpers import video_frames
from tests.conftest import davis_frames


def test_segment_writes_everything(tmp_path, synthetic_folder, capsys):
    out = tmp_path / "labels"
    code = main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--ratio", "3", "--out", str(out),
                 "--save-labels", str(tmp_path / "l.npy"), "--overlay", str(tmp_path / "o.mp4"),
                 "--stats-json", str(tmp_path / "s.json")])
    err = capsys.readouterr()
    assert code == 0
    assert "RANDOM WEIGHTS" in err.err and "mode: st" in err.err
    assert "segmented 7 frames" in err.out
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"frame_{i:03d}.png" for i in range(7)]
    assert Image.open(out / names[0]).size == (80, 60)
    labels = np.load(tmp_path / "l.npy")
    assert labels.shape == (7, 2, 3) and labels.dtype == np.int32
    stats = json.loads((tmp_path / "s.json").read_text())
    assert {"mode", "backend", "clusters", "decode", "backbone", "affinity", "clustering", "total"} <= set(stats)
    assert all(not isinstance(v, (dict, list)) for v in stats.values())  # flat
    assert video_frames(tmp_path / "o.mp4") == (7, (60, 80))  # every frame, at the frames' size


def test_segment_with_certified_kernels_reports_what_it_recomputed(tmp_path, synthetic_folder):
    """The certified clustering labels as the reference does; its stats say how much it recomputed."""
    common = ["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16", "--resolution", "32",
              "48", "--ratio", "3", "--qk-gain", "20", "--backend", "eager"]
    for kernels in ("torch", "certified"):
        assert main([*common, "--kernels", kernels, "--save-labels", str(tmp_path / f"{kernels}.npy"),
                     "--stats-json", str(tmp_path / f"{kernels}.json")]) == 0
    assert np.array_equal(np.load(tmp_path / "torch.npy"), np.load(tmp_path / "certified.npy"))
    stats = json.loads((tmp_path / "certified.json").read_text())
    assert stats["kernels"] == "certified" and stats["certified_decisions"] > 0
    assert 0 <= stats["certified_recomputed_fraction"] <= 1 and stats["clusters"] > 1
    assert "certified_decisions" not in json.loads((tmp_path / "torch.json").read_text())


def test_checkpoint_davis_clip(tmp_path, paper_ckpt, capsys):
    folder = davis_frames("dog")
    code = main(["segment", str(folder), "--checkpoint", str(paper_ckpt), "--resolution", "32", "56",
                 "--save-labels", str(tmp_path / "l.npy"), "--stats-json", str(tmp_path / "s.json")])
    assert code == 0
    assert json.loads((tmp_path / "s.json").read_text())["mode"] == "st"
    assert np.load(tmp_path / "l.npy").shape == (60, 4, 7)


@pytest.mark.parametrize("args,match", [
    (["segment", "/nonexistent/clip"], "input not found"),
    (["segment", "{clip}", "--checkpoint", "/nonexistent.pth"], "checkpoint not found"),
    (["segment", "{clip}", "--random-weights", "--resolution", "30", "40"], "not a multiple of the patch size"),
])
def test_errors_are_one_line(args, match, synthetic_folder, capsys, tmp_path):
    args = [a.replace("{clip}", str(synthetic_folder)) for a in args] + ["--save-labels", str(tmp_path / "l.npy")]
    if "--random-weights" not in args and "--checkpoint" not in args:
        args += ["--random-weights"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("attnseg: error:") and match in err[-1]
    assert not any("Traceback" in line for line in err)


def test_bad_checkpoint_message_lists_keys(tmp_path, synthetic_folder, capsys, small_sd):
    import torch

    sd = dict(small_sd)
    del sd["cls_token"]
    torch.save(sd, tmp_path / "bad.pth")
    assert main(["segment", str(synthetic_folder), "--checkpoint", str(tmp_path / "bad.pth"),
                 "--arch", "vit_small_16", "--save-labels", str(tmp_path / "l.npy")]) == 2
    assert "missing (1): cls_token" in capsys.readouterr().err


def test_chunk_log_has_one_line_per_chunk_appended_as_it_finishes(tmp_path):
    """--chunk-log: a JSON line per finished chunk (20 frames in chunks of 6: 6, 6, 6, 2), appended run after run."""
    from tests.cli.helpers import LONG, write_avi

    video = write_avi(tmp_path / "v.avi", 20)
    log = tmp_path / "chunks.jsonl"
    args = ["segment", str(video), *LONG, "--chunk-log", str(log), "--save-labels", str(tmp_path / "l.npy")]
    assert main(args) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["chunk"], r["start"], r["frames"]) for r in lines] == [(0, 0, 6), (1, 6, 6), (2, 12, 6), (3, 18, 2)]
    assert all(r["clusters"] >= 1 and r["seconds"] > 0 and r["fps"] > 0 and r["rss_mb"] > 0 for r in lines)
    ids = [r["ids"] for r in lines]
    assert ids == sorted(ids) and ids[-1] == len(np.unique(np.load(tmp_path / "l.npy")))  # ids handed out so far
    assert main([*args, "--overwrite"]) == 0
    assert len(log.read_text().splitlines()) == 8  # appended, not replaced


def test_an_onnx_export_keeps_third_party_warnings_out_of_the_terminal(tmp_path, monkeypatch, capsys):
    """Exporting the front-end (--backend auto's first run) prints no PyTorch FutureWarning and no onnxscript line:
    only attnseg's own (--debug shows the rest)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import warnings

    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = tmp_path / "clip"
        folder.mkdir()
        from attnseg.engine.synthetic import synthetic_clip

        for i, f in enumerate(synthetic_clip(3, 60, 80)[0]):
            Image.fromarray(f).save(folder / f"{i:05d}.png")
        capsys.readouterr()
        assert main(["segment", str(folder), "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                     "--backend", "onnxruntime", "--no-progress", "--save-labels", str(tmp_path / "l.npy")]) == 0
    err = capsys.readouterr().err
    assert [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning, UserWarning))] == []
    assert "onnxscript" not in err and "version conver" not in err and "Warning" not in err, err
    assert list((tmp_path / "cache" / "artifacts").glob("*.onnx"))  # it did export


def test_a_folder_holding_an_earlier_runs_pngs_is_refused_unless_overwrite(tmp_path, synthetic_folder, capsys):
    """A shorter run into a folder of 7 older label PNGs would leave them mixed in with its own: refused in one
    line; --overwrite removes the earlier run's PNGs (only those) first; PNGs attnseg did not write are never
    touched."""
    out = tmp_path / "masks"
    model = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48", "--backend", "eager",
             "--no-progress"]
    assert main(["segment", str(synthetic_folder), *model, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    short = tmp_path / "short"
    short.mkdir()
    for f in sorted(synthetic_folder.glob("*.png"))[:3]:
        (short / f.name).write_bytes(f.read_bytes())
    capsys.readouterr()
    assert main(["segment", str(short), *model, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds the 7 label PNGs of an earlier run: overwrite them" in err[0]
    assert err[0].endswith("(--overwrite or --resume)")
    assert main(["segment", str(short), *model, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"frame_{i:03d}.png" for i in range(3)]
    assert (out / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(foreign / "holiday.png")
    for extra in ([], ["--overwrite"]):
        assert main(["segment", str(short), *model, "--out", str(foreign), *extra]) == 2
        assert "1 PNGs that attnseg did not write (holiday.png)" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["holiday.png"]
