"""`attnseg sample`: the README's main job."""
from __future__ import annotations

import json

import numpy as np

from attnseg.cli import main
from tests.cli.helpers import video_frames


def test_sample_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    code = main(["sample", "--out-dir", str(tmp_path / "s"), "--frames", "6", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--offline"])
    assert code == 0
    err = capsys.readouterr().err
    assert "not cached; put" in err and "RANDOM WEIGHTS" in err
    assert len(list((tmp_path / "s" / "labels").glob("*.png"))) == 6
    assert video_frames(tmp_path / "s" / "overlay.mp4") == (6, (240, 320))
    stats = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert stats["frames"] == 6 and stats["weights"] == "random"
    assert np.load(tmp_path / "s" / "labels.npy").shape == (6, 2, 3)  # 32x48 at patch 16


def test_the_sample_with_random_weights_shows_many_objects(tmp_path, monkeypatch, capsys):
    """The README's main job with no weights at hand: random weights sharpened (settings.random_qk_gain) give a
    multi-object patchwork, announced as meaningless, not one object over every frame (as at a gain of 1)."""
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    assert main(["sample", "--out-dir", str(tmp_path / "s"), "--offline"]) == 0
    out, err = capsys.readouterr()
    assert "RANDOM WEIGHTS: the masks are meaningless" in err and "sample --checkpoint FILE" in err  # its flag named
    labels = np.load(tmp_path / "s" / "labels.npy")
    areas = np.bincount(labels.ravel()) / labels.size
    assert (areas > 0.01).sum() >= 5 and "object ids" in out


def test_a_second_sample_into_the_same_folder_is_refused_unless_overwrite(tmp_path, monkeypatch, capsys):
    """It said "4 frames" and segmented 24 (the earlier run's frames were still there)."""
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    args = ["sample", "--out-dir", str(tmp_path / "s"), "--arch", "vit_small_16", "--resolution", "32", "48",
            "--offline"]
    assert main([*args, "--frames", "6"]) == 0
    capsys.readouterr()
    assert main([*args, "--frames", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"attnseg: error: {tmp_path / 's'} holds an earlier sample run (6 frames): --overwrite " \
                      "replaces it, or name another --out-dir"
    assert main([*args, "--frames", "4", "--overwrite"]) == 0
    assert "segmented 4 frames" in capsys.readouterr().out
    frames, labels = (len(list((tmp_path / "s" / name).glob("*.png"))) for name in ("frames", "labels"))
    assert frames == labels == 4
    assert np.load(tmp_path / "s" / "labels.npy").shape[0] == 4


def test_the_sample_takes_the_papers_checkpoint(tmp_path, capsys):
    from attnseg.bench.load import paper_checkpoint

    checkpoint = paper_checkpoint(tmp_path, "vit_small_16", 6.0)
    assert main(["sample", "--out-dir", str(tmp_path / "s"), "--frames", "3", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--checkpoint", str(checkpoint)]) == 0
    assert json.loads((tmp_path / "s" / "stats.json").read_text())["weights"] == "checkpoint"
    assert "RANDOM WEIGHTS" not in capsys.readouterr().err
