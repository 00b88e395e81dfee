"""One error base, a class per cause, and the CLI's one line per failure: the bad inputs a new user tries."""
from __future__ import annotations

import pytest
import torch

from attnseg import errors
from attnseg.cli import main
from attnseg.errors import (AttnsegError, CheckpointError, DeviceError, EvalError, ExportError, InputError,
                            MissingDependency, OutputError, SettingError, StreamError, WeightsUnavailableError)

TINY = ["--random-weights", "--arch", "vit_small_16", "--resolution", "32", "48"]


@pytest.mark.parametrize("cls,builtin", [
    (SettingError, ValueError), (InputError, ValueError), (CheckpointError, ValueError),
    (WeightsUnavailableError, RuntimeError), (MissingDependency, ImportError), (MissingDependency, ValueError),
    (DeviceError, ValueError), (ExportError, ValueError), (OutputError, ValueError), (StreamError, RuntimeError),
    (EvalError, ValueError)])
def test_every_error_has_one_base_and_keeps_its_builtin(cls, builtin):
    assert issubclass(cls, AttnsegError) and issubclass(cls, builtin)


def test_the_library_raises_by_cause(tmp_path):
    from attnseg.engine import SegmentSettings, Segmenter, read_clip
    from attnseg.export import read_meta
    from attnseg.optional import require

    with pytest.raises(SettingError, match="tau must be a finite number >= 0, got -1"):
        SegmentSettings(tau=-1)
    with pytest.raises(SettingError, match="unknown backend 'fast'; choose from auto, eager, compiled"):
        SegmentSettings(backend="fast")
    with pytest.raises(InputError, match="input not found"):
        read_clip(tmp_path / "missing.mp4")
    with pytest.raises(ExportError, match="does not exist"):
        read_meta(tmp_path / "fe.onnx")
    with pytest.raises(MissingDependency, match=r"cannot use it: no_such_package is not installed \(pip install "
                                                r"'attnseg\[extra\]'\)"):
        require("no_such_package", extra="extra", what="use it")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Segmenter.from_checkpoint(str(tmp_path / "none.pth"), arch="vit_small_16")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA device is available"):
            Segmenter.from_checkpoint(random_weights=True, device="cuda")
    auto = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16", device="auto")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # the device the machine has


def test_library_messages_speak_its_words_not_the_cli_flags():
    import ast
    from pathlib import Path

    root = Path(errors.__file__).parent
    for path in root.rglob("*.py"):
        if path.parts[-2] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = ast.unparse(node.exc)
                assert " --" not in text and "`attnseg " not in text, f"{path.name}: {text}"


def test_a_bad_resolution_fails_before_anything_is_decoded(synthetic_folder, capfd, monkeypatch):
    import attnseg.engine.session as session

    def no_decoding(*a, **k):
        raise AssertionError("decoded before the settings were checked")

    monkeypatch.setattr(session, "FrameReader", no_decoding)
    assert main(["segment", str(synthetic_folder), "--random-weights", "--resolution", "0", "96"]) == 2
    assert main(["segment", str(synthetic_folder), "--random-weights", "--resolution", "100", "96"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["attnseg: error: resolution must be two positive integers (height, width), got (0, 96)",
                   "attnseg: error: resolution 100x96 is not a multiple of the patch size 8"]


@pytest.mark.parametrize("content", [b"", b"this is text, not a video\n"])
def test_a_corrupt_video_is_one_line_without_ffmpeg_chatter(tmp_path, capfd, content):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    assert main(["segment", str(bad), *TINY]) == 2
    out = capfd.readouterr()  # the file descriptors: FFmpeg writes to fd 2 from C, past Python's sys.stderr
    assert out.err.strip().splitlines() == [f"attnseg: error: cannot open video {bad} (unsupported or corrupt file)"]


def test_eval_without_scipy_names_the_extra(tmp_path, capfd, monkeypatch):
    import attnseg.optional as optional

    real = optional.importable
    monkeypatch.setattr(optional, "importable", lambda m: m != "scipy" and real(m))
    assert main(["eval", "--davis-root", str(tmp_path), "--results", str(tmp_path)]) == 2
    assert capfd.readouterr().err.strip().splitlines() == [
        "attnseg: error: cannot evaluate: scipy is not installed (pip install 'attnseg[eval]')"]


def test_an_unexpected_failure_is_one_line_pointing_at_debug(monkeypatch, capfd, synthetic_folder):
    from attnseg.engine.session import Session

    def bug(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr(Session, "segment", bug)
    assert main(["segment", str(synthetic_folder), *TINY]) == 1
    assert capfd.readouterr().err.strip().splitlines() == [
        "attnseg: error: unexpected KeyError: 'a bug' (run with --debug for the traceback)"]
    with pytest.raises(KeyError):
        main(["--debug", "segment", str(synthetic_folder), *TINY])
