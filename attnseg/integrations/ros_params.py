"""The ROS 2 node's declared parameters and their mapping onto its session's settings: plain Python, testable
without ROS (the node itself: ros_node.py).

The session's parameters are fields of attnseg.settings.SessionSettings, their defaults the "robot" preset's
(attnseg.presets: the paper's model on the device the machine has, official DINO weights from the cache unless a
checkpoint or random weights are asked for; the newest image only) and their help each field's; the node's own
(QoS, stale frames, diagnostics, the label encoding) are RosNodeSettings', so no default is written here. ROS parameters are scalars: the
resolution is `height` and `width`, an unset optional setting is "".
Topics are not parameters: remap them (`--ros-args -r image:=/camera/image_raw`).

    python -m attnseg.integrations.ros_params > ros2/attnseg_ros/config/attnseg.yaml   # the shipped file
"""
from __future__ import annotations

import dataclasses
from enum import Enum

from ..errors import SettingError
from ..presets import PRESETS
from ..settings import (
    LabelEncoding,
    ModelSettings,
    Reliability,
    RosNodeSettings,
    RuntimeSettings,
    SegmentSettings,
    SessionSettings,
    StreamSettings,
)

ROBOT = PRESETS["robot"]
SESSION_FIELDS = {  # parameter name -> (part of SessionSettings, field)
    **{name: ("model", name) for name in ("checkpoint", "random_weights", "arch", "device")},
    **{name: ("segment", name) for name in ("backend", "artifact", "precision", "kernels", "normalization", "tau",
                                            "ratio", "window")},
    **{name: ("stream", name) for name in ("causal", "memory", "max_age", "track_tokens")},
    "carry": ("runtime", "carry"),
}
PARTS = {"model": ModelSettings, "segment": SegmentSettings, "stream": StreamSettings, "runtime": RuntimeSettings}


def _scalar(value):
    """A settings value as a ROS parameter value: enums by their value, None as ""."""
    if isinstance(value, Enum):
        return value.value
    return "" if value is None else value


def _help(cls, name: str) -> str:
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("help", "")


def _parameters() -> dict[str, tuple[object, str]]:
    params = {}
    for name, (part, field_name) in SESSION_FIELDS.items():
        params[name] = (_scalar(getattr(getattr(ROBOT, part), field_name)), _help(PARTS[part], field_name))
        if name == "arch":  # the resolution, as two scalar parameters, after the arch
            height, width = ROBOT.segment.resolution
            params["height"] = (height, "input height fed to the ViT (a multiple of the patch size)")
            params["width"] = (width, "input width fed to the ViT")
    for f in dataclasses.fields(RosNodeSettings):
        params[f.name] = (_scalar(getattr(RosNodeSettings(), f.name)), _help(RosNodeSettings, f.name))
    return params


# name: (default, description); the type of the default is the parameter's type
PARAMETERS: dict[str, tuple[object, str]] = _parameters()


def settings(values: dict) -> tuple[SessionSettings, RosNodeSettings]:
    """Parameter values (defaults filled in) -> the node's session (the "robot" preset with these values) and its
    own settings, every value checked before the model is built; SettingError names a bad one."""
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise SettingError(f"unknown parameters {sorted(unknown)}; known: {', '.join(PARAMETERS)}")
    v = {name: values.get(name, default) for name, (default, _) in PARAMETERS.items()}
    for name, (default, _) in PARAMETERS.items():
        if type(v[name]) is not type(default) and not (isinstance(default, float) and isinstance(v[name], int)):
            raise SettingError(f"parameter {name} must be {type(default).__name__}, got {v[name]!r}")
        if isinstance(default, float):
            v[name] = float(v[name])
    for name, choice in (("reliability", Reliability), ("label_encoding", LabelEncoding)):
        if v[name] not in choice.values():
            raise SettingError(f"{name} must be {' or '.join(choice.values())}, got {v[name]!r}")
    given: dict[str, dict] = {part: {} for part in PARTS}
    for name, (part, field_name) in SESSION_FIELDS.items():
        given[part][field_name] = v[name] if v[name] != "" else None
    given["segment"]["resolution"] = (v["height"], v["width"])
    session = SessionSettings(**{part: dataclasses.replace(getattr(ROBOT, part), **fields)
                                 for part, fields in given.items()})
    node = RosNodeSettings(**{f.name: v[f.name] for f in dataclasses.fields(RosNodeSettings)})
    return session, node


def parameter_file() -> str:
    """The shipped config/attnseg.yaml: every parameter at its default, with its description."""
    def show(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return '""' if value == "" else str(value)

    lines = ["# attnseg-ros2 --ros-args --params-file config/attnseg.yaml -r image:=/camera/image_raw",
             "# (or ros2 run attnseg_ros attnseg_node ... after colcon build)",
             "# generated by `python -m attnseg.integrations.ros_params` from attnseg.settings: edit the values you "
             "change",
             "attnseg:", "  ros__parameters:"]
    lines += [f"    {name}: {show(default)}  # {text}" for name, (default, text) in PARAMETERS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(parameter_file(), end="")
