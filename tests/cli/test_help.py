"""Every help line against what the option does: each command's options walked (`attnseg demo`'s too), and the usage
errors one line."""
from __future__ import annotations

import argparse
import re
from enum import Enum
from pathlib import Path

import pytest

from attnseg.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def parsers() -> dict[str, argparse.ArgumentParser]:
    commands = dict(build_parser()._subparsers._group_actions[0].choices)
    return {f"attnseg {name}": p for name, p in commands.items()}  # the demo's too: `attnseg demo`


def options():
    for name, parser in parsers().items():
        for action in parser._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) and action.option_strings:
                yield name, action


def shown(value) -> str:
    """A default as a help line writes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return value.value if isinstance(value, Enum) else str(value)


@pytest.mark.parametrize("name,action", list(options()), ids=lambda v: v if isinstance(v, str) else
                         v.option_strings[0])
def test_every_option_says_what_it_does_and_its_true_default(name, action):
    text = action.help or ""
    assert text, f"{name} {action.option_strings[0]}: no help"
    if text == argparse.SUPPRESS:
        return
    defaults = re.findall(r"\(default: ([^;)]*)", text)
    assert len(defaults) <= 1, f"{name} {action.option_strings[0]} says its default twice: {text}"
    if isinstance(action, argparse._StoreFalseAction):  # --no-X: what is on by default
        assert text.startswith("turns off what is on by default:"), text
    elif isinstance(action, argparse._StoreTrueAction):
        assert action.default is False
    elif action.default is not None:  # the default it says is the one it has
        assert defaults, f"{name} {action.option_strings[0]}: default {action.default!r} not in its help: {text}"
        assert defaults[0].startswith(shown(action.default)), (name, action.option_strings[0], defaults[0])
    if action.choices is not None:
        assert len(list(action.choices)) > 1, f"{name} {action.option_strings[0]}: one choice"


@pytest.mark.parametrize("argv,says", [
    (["segment", "x.mp4", "--random-weights", "--checkpoint", "c.pth"],
     "attnseg segment: error: argument --checkpoint: not allowed with argument --random-weights "
     "(see attnseg segment --help)"),
    (["segment", "x.mp4", "--overlya", "o.mp4"],
     "attnseg segment: error: unrecognized arguments: --overlya (did you mean --overlay or --rosbag-overlay?) "
     "o.mp4 (see attnseg segment --help)"),
    (["segmnt"], "attnseg: error: argument command: invalid choice: 'segmnt'"),
    (["stream", "0", "--tau"], "attnseg stream: error: argument --tau: expected one argument (see attnseg stream "
                               "--help)"),
])
def test_usage_errors_are_one_line_naming_the_commands_help(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith(says), err


def test_export_refuses_a_format_it_cannot_build_before_loading_weights(monkeypatch, capsys):
    from attnseg.cli import export
    from attnseg.export import FORMATS

    import dataclasses

    monkeypatch.setitem(FORMATS, "tensorrt", dataclasses.replace(FORMATS["tensorrt"],
                                                                 available=lambda: "TensorRT is not installed"))
    monkeypatch.setattr(export, "load_frontend", lambda *a: pytest.fail("loaded weights first"))
    assert main(["export", "--format", "tensorrt", "--out", "fe.plan", "--random-weights"]) == 2
    assert capsys.readouterr().err.strip() == "attnseg: error: cannot export tensorrt here: TensorRT is not installed"


def test_exports_hint_runs_the_artifact_it_wrote(tmp_path, monkeypatch, capsys):
    """The printed command (random weights and the resolution included) segments a clip with the artifact."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "fe.onnx"), "--random-weights", "--arch",
                 "vit_small_16", "--resolution", "32", "48"]) == 0
    hint = re.search(r"`attnseg (segment CLIP .*)`", capsys.readouterr().out).group(1)
    assert "--random-weights" in hint and "--resolution 32 48" in hint
    argv = hint.split()
    argv[1] = str(write_clip(tmp_path / "clip"))
    argv[argv.index("--out") + 1] = str(tmp_path / "masks")
    assert main([*argv, "--no-progress"]) == 0
    assert "segmented 3 frames" in capsys.readouterr().out


def write_clip(folder: Path) -> Path:
    from PIL import Image

    from attnseg.engine.synthetic import synthetic_clip

    folder.mkdir()
    for i, frame in enumerate(synthetic_clip(3, 60, 80)[0]):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    return folder
