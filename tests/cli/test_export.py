"""`attnseg export`, and segmenting with what it built."""
from __future__ import annotations

import json

import numpy as np
import pytest

from attnseg.cli import main


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
    for backend in (["--backend", "torch"], ["--backend", "onnxruntime", "--artifact", str(engine)]):
        npy = tmp_path / f"{backend[1]}.npy"
        assert main(["segment", str(synthetic_folder), *base, *backend, "--save-labels", str(npy),
                     "--stats-json", str(tmp_path / "s.json"), "--overwrite"]) == 0
        labels[backend[1]] = np.load(npy)
    assert json.loads((tmp_path / "s.json").read_text())["backend"] == "onnxruntime"
    assert np.array_equal(labels["torch"], labels["onnxruntime"])
    # the same engine for another resolution: one line, naming the mismatch
    code = main(["segment", str(synthetic_folder), "--random-weights", "--arch", "vit_small_16",
                 "--resolution", "48", "64", "--backend", "onnxruntime", "--artifact", str(engine), "--save-labels",
                 str(tmp_path / "other.npy")])
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
