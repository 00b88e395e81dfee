"""One source of truth for settings: every interface derives its defaults from attnseg.settings, every
setting is reachable from the CLI, and states are enums."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from attnseg.cli import build_parser
from attnseg.cli.options import read_session, read_settings
from attnseg.presets import PRESETS
from attnseg.errors import SettingError
from attnseg.settings import (CHUNK_FIELDS, Backend, DropPolicy, EndReason, ExportSettings, Kernels,
                              ModelSettings, RaySettings, RosbagSettings, RosNodeSettings, RuntimeSettings,
                              SegmentSettings, StreamSettings, TritonRepoSettings)

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv):
    return build_parser().parse_args(list(argv))


def dests(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {a.dest for a in sub._actions}


@pytest.mark.parametrize("command,classes", [
    ("segment", (ModelSettings, SegmentSettings, RosbagSettings)),
    ("stream", (ModelSettings, SegmentSettings, StreamSettings, RuntimeSettings, RosbagSettings)),
    ("demo", (ModelSettings, SegmentSettings, StreamSettings, RuntimeSettings)),
    ("batch", (ModelSettings, SegmentSettings, RaySettings)),
    ("export", (ModelSettings, ExportSettings, TritonRepoSettings, StreamSettings))])
def test_every_setting_is_reachable_from_the_cli(command, classes):
    have = dests(command)
    for cls in classes:
        for f in dataclasses.fields(cls):
            if command in ("stream", "demo") and cls is SegmentSettings and f.name in CHUNK_FIELDS:
                assert f.name not in have  # a live stream has windows, not chunks
                continue
            flag = f.metadata.get("flag")
            dest = flag.lstrip("-").replace("-", "_") if flag and not flag.startswith("--no-") else f.name
            assert dest in have, f"{command}: {cls.__name__}.{f.name} has no option"


def test_cli_defaults_are_the_settings_defaults():
    args = parse("stream", "0")
    assert read_settings(SegmentSettings, args) == PRESETS["cli"].segment  # the library's, backend auto
    assert PRESETS["cli"].segment == SegmentSettings(backend="auto")
    assert read_settings(SegmentSettings, parse("segment", "clip.mp4")) == PRESETS["cli"].segment
    assert read_settings(StreamSettings, args) == StreamSettings()
    assert read_settings(RuntimeSettings, args) == RuntimeSettings()
    assert read_settings(ModelSettings, args) == ModelSettings()
    assert read_settings(RosbagSettings, args) == RosbagSettings()
    one = read_session(parse("stream", "0", "--tau", "2", "--window", "5", "--track-tokens", "9"))
    assert (one.segment.tau, one.segment.window, one.stream.track_tokens) == (2.0, 5, 9)  # one field each
    assert not any(hasattr(StreamSettings(), name) for name in ("tau", "window", "ratio"))
    assert read_settings(RuntimeSettings, parse("stream", "0", "--no-warm-up", "--drop", "wait")) == \
        RuntimeSettings(warm_up=False, drop=DropPolicy.WAIT)


def test_the_demo_starts_from_the_live_preset():
    args = parse("demo")
    assert read_settings(ModelSettings, args) == PRESETS["live"].model
    assert read_settings(SegmentSettings, args) == PRESETS["live"].segment
    assert read_settings(StreamSettings, args) == StreamSettings()
    assert read_session(args) == PRESETS["live"]


def test_the_ros_parameters_derive_from_the_settings():
    from attnseg.integrations.ros_params import PARAMETERS, parameter_file

    robot = PRESETS["robot"]
    defaults = {name: default for name, (default, _) in PARAMETERS.items()}
    assert defaults["device"] == robot.model.device == "auto" and defaults["arch"] == robot.model.arch
    assert defaults["random_weights"] is robot.model.random_weights is False
    assert (defaults["height"], defaults["width"]) == robot.segment.resolution
    for name in ("memory", "max_age", "track_tokens"):
        assert defaults[name] == getattr(StreamSettings(), name)
    assert defaults["window"] == SegmentSettings().window
    assert defaults["kernels"] == Kernels.AUTO and defaults["label_encoding"] == RosbagSettings().encoding
    for f in dataclasses.fields(RosNodeSettings):  # the node's own parameters too
        assert defaults[f.name] == getattr(RosNodeSettings(), f.name)
    shipped = (ROOT / "ros2" / "attnseg_ros" / "config" / "attnseg.yaml").read_text()
    assert shipped == parameter_file(), "regenerate it: python -m attnseg.integrations.ros_params > ros2/attnseg_ros/config/attnseg.yaml"


def test_the_triton_repository_carries_every_stream_setting():
    from attnseg.export.triton_repo import sequence_config

    class Meta:
        resolution, normalization, heads, head_dim = (32, 48), "kinetics", 8, 48

    text = sequence_config("fe", Meta, (2, 3), 0.14, dataclasses.asdict(StreamSettings()), "KIND_CPU", 8)
    for f in dataclasses.fields(StreamSettings):
        assert f'key: "{f.name}"' in text


def test_states_are_enums_that_read_and_write_as_their_values():
    config = SegmentSettings(backend="torch", kernels="triton")
    assert config.backend is Backend.EAGER and config.kernels is Kernels.TRITON
    assert json.loads(json.dumps({"b": config.backend})) == {"b": "eager"} and f"{config.kernels}" == "triton"
    with pytest.raises(SettingError, match="unknown drop policy 'newest'; choose from drop-oldest, wait"):
        RuntimeSettings(drop="newest")
    with pytest.raises(SettingError, match="choose one weight source"):
        ModelSettings(checkpoint="a.pth", random_weights=True)
    with pytest.raises(SettingError, match="unknown arch"):
        ModelSettings(arch="vit_huge")
    assert {b.value for b in Backend if b.exported} == {"onnxruntime", "tensorrt", "aoti", "openvino"}


def test_a_stream_ends_with_a_reason_and_its_words():
    from attnseg.engine.live.runtime import StreamStats

    stats = StreamStats()
    stats.end(EndReason.STALLED, "no frame for 10 s")
    assert stats.to_dict()["ended_by"] == "source stalled (no frame for 10 s)"
    assert stats.to_dict()["end_reason"] == "source stalled"
    stats.end(EndReason.ERROR, "front-end")
    assert stats.ended_by == "error in front-end" and stats.end_reason is EndReason.ERROR


def test_exported_backends_match_the_export_table():
    from attnseg.export.exporter import FORMAT_OF_BACKEND

    assert {b.value for b in Backend if b.exported} == set(FORMAT_OF_BACKEND)


def test_the_ground_floor_imports_nothing_above_it():
    """settings.py (and states.py, fields.py, architectures.py) import only the errors and each other; the model imports only the ground floor:
    defaults are read downward, never back up."""
    import ast

    package = ROOT / "attnseg"

    def imported(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = path.parent.relative_to(ROOT).parts[:len(path.parent.relative_to(ROOT).parts) - node.level + 1]
                names.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
        return names

    ground = {"attnseg.settings", "attnseg.states", "attnseg.errors", "attnseg.files", "attnseg.optional",
              "attnseg.fields", "attnseg.architectures"}
    for name in ("settings.py", "states.py", "fields.py", "architectures.py"):
        assert imported(package / name) <= ground, name
    for path in (package / "model").glob("*.py"):
        assert all(m in ground or m.startswith("attnseg.model") for m in imported(path)), path.name


def test_the_former_names_are_gone_and_the_parser_points_to_the_new_ones(capsys):
    """Nothing was released under them (CHANGELOG.md): LiveSettings, SegmentSettings(engine=), --engine, StreamEngine
    and the ROS parameter engine are refused, the flag with its new name."""
    import attnseg
    import attnseg.settings as settings
    from attnseg.integrations.ros_params import settings as node_settings

    assert not hasattr(settings, "LiveSettings") and not hasattr(attnseg, "StreamEngine")
    with pytest.raises(TypeError):
        SegmentSettings(backend="onnxruntime", engine="fe.onnx")
    assert not hasattr(SegmentSettings(), "engine")
    args = parse("segment", "clip.mp4", "--backend", "onnxruntime", "--artifact", "fe.onnx")
    assert read_settings(SegmentSettings, args).artifact == "fe.onnx"
    with pytest.raises(SystemExit):
        parse("segment", "clip.mp4", "--backend", "onnxruntime", "--engine", "fe.onnx")
    assert "--engine" in capsys.readouterr().err
    with pytest.raises(SettingError, match="unknown parameters"):
        node_settings({"random_weights": True, "backend": "onnxruntime", "engine": "fe.onnx"})
    assert node_settings({"random_weights": True, "backend": "onnxruntime", "artifact": "a.onnx"}
                         )[0].segment.artifact == "a.onnx"


@pytest.mark.parametrize("cls,bad", [
    (SegmentSettings, {"tau": float("inf")}), (SegmentSettings, {"window": 0}),
    (StreamSettings, {"memory": -1}), (StreamSettings, {"max_age": float("nan")}),
    (SegmentSettings, {"tau": float("nan")}), (SegmentSettings, {"tau": -1.0}),
    (RuntimeSettings, {"stall_timeout": 0.0}), (RuntimeSettings, {"stall_timeout": float("nan")}),
    (RuntimeSettings, {"max_frames": 0}),
    (RosNodeSettings, {"qos_depth": 0}), (RosNodeSettings, {"max_frame_age": -1.0}),
    (RosNodeSettings, {"diagnostics_period": 0.0}), (RosNodeSettings, {"latency_budget_ms": float("nan")}),
])
def test_every_setting_refuses_non_finite_and_out_of_range_values_where_it_is_declared(cls, bad):
    with pytest.raises(SettingError):
        cls(**bad)


@pytest.mark.parametrize("bad", [{"tau": float("nan")}, {"window": 0}, {"memory": -1}, {"diagnostics_period": 0.0},
                                 {"qos_depth": 0}, {"max_frame_age": -1.0}, {"height": 100}])
def test_the_ros_node_refuses_a_bad_parameter_before_any_model_is_built(bad):
    """settings() runs before the node builds its model: a bad value is refused there, in one SettingError."""
    from attnseg.integrations.ros_params import settings

    with pytest.raises(SettingError):
        settings(bad)


def test_the_demo_and_the_cli_refuse_tau_nan(capsys):
    import importlib.util

    from attnseg.cli import main

    spec = importlib.util.spec_from_file_location("demo_webcam", ROOT / "demo_webcam.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.main(["--source", "synthetic:3", "--random-weights", "--tau", "nan"]) == 2
    assert main(["stream", "synthetic:3", "--random-weights", "--tau", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["attnseg: error: tau must be a finite number >= 0, got nan",  # demo_webcam.py: `attnseg demo`
                   "attnseg: error: tau must be a finite number >= 0, got nan"]
