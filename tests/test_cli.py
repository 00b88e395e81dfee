"""The command line end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from attnseg.cli import main
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
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:03d}.png" for i in range(7)]
    assert Image.open(out / names[0]).size == (80, 60)
    labels = np.load(tmp_path / "l.npy")
    assert labels.shape == (7, 2, 3) and labels.dtype == np.int32
    stats = json.loads((tmp_path / "s.json").read_text())
    assert {"mode", "backend", "clusters", "decode", "backbone", "affinity", "clustering", "total"} <= set(stats)
    assert all(not isinstance(v, (dict, list)) for v in stats.values())  # flat
    assert (tmp_path / "o.mp4").stat().st_size > 0


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
def test_errors_are_one_line(args, match, synthetic_folder, capsys):
    args = [a.replace("{clip}", str(synthetic_folder)) for a in args]
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
                 "--arch", "vit_small_16"]) == 2
    assert "missing (1): cls_token" in capsys.readouterr().err


def test_sample_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    code = main(["sample", "--out-dir", str(tmp_path / "s"), "--frames", "6", "--arch", "vit_small_16",
                 "--resolution", "32", "48", "--offline"])
    assert code == 0
    err = capsys.readouterr().err
    assert "not cached; put" in err and "RANDOM WEIGHTS" in err
    assert len(list((tmp_path / "s" / "labels").glob("*.png"))) == 6
    assert (tmp_path / "s" / "overlay.mp4").exists() and (tmp_path / "s" / "stats.json").exists()


def test_export_then_segment_with_the_engine(tmp_path, synthetic_folder, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    engine = tmp_path / "fe.onnx"
    base = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]
    assert main(["export", "--format", "onnx", "--out", str(engine), *base]) == 0
    out = capsys.readouterr().out
    assert "exported vit_small_16 st 32x48 fp32 as onnx" in out and "--backend onnxruntime" in out
    assert engine.is_file() and engine.with_name("fe.onnx.data").is_file()
    labels = {}
    for backend in (["--backend", "torch"], ["--backend", "onnxruntime", "--engine", str(engine)]):
        npy = tmp_path / f"{backend[1]}.npy"
        assert main(["segment", str(synthetic_folder), *base, *backend, "--save-labels", str(npy),
                     "--stats-json", str(tmp_path / "s.json")]) == 0
        labels[backend[1]] = np.load(npy)
    assert json.loads((tmp_path / "s.json").read_text())["backend"] == "onnxruntime"
    assert np.array_equal(labels["torch"], labels["onnxruntime"])
    # the same engine for another resolution: one line, naming the mismatch
    code = main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "48", "64", "--backend", "onnxruntime", "--engine", str(engine)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error:") and "resolution 32x48 (this run: 48x64)" in err[-1]


def test_export_without_tensorrt_is_one_line(tmp_path, capsys):
    from attnseg.export.tensorrt_export import available
    if available() is None:
        pytest.skip("TensorRT is installed here")
    code = main(["export", "--format", "tensorrt", "--out", str(tmp_path / "fe.plan"), "--random-weights",
                 "--arch", "vit_small_16", "--resolution", "32", "48"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error: cannot export tensorrt here")


def test_stream_writes_everything(tmp_path, capsys):
    out, stats_path = tmp_path / "labels", tmp_path / "stats.json"
    code = main(["stream", "synthetic:10", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--out", str(out), "--overlay", str(tmp_path / "o.mp4"), "--save-labels", str(tmp_path / "l.npy"),
                 "--stats-json", str(stats_path)])
    assert code == 0
    assert "streamed 10/10 frames (0 dropped)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(10)]
    assert np.load(tmp_path / "l.npy").shape == (10, 2, 3)
    stats = json.loads(stats_path.read_text())
    assert {"p50", "p95", "p99"} <= set(stats["latency_ms"]) and stats["frames_in"] == stats["frames_processed"] == 10
    assert stats["frames_dropped"] == 0 and stats["fps"] > 0 and stats["ended_by"] == "end of source"
    assert (tmp_path / "o.mp4").stat().st_size > 0


def test_stream_from_a_missing_camera_is_one_line(tmp_path, capsys):
    code = main(["stream", "9", "--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48",
                 "--stats-json", str(tmp_path / "s.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnseg: error:") and "cannot open camera 9" in err[-1]
