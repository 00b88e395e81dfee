"""The ROS 2 node's declared parameters and their mapping onto the engine's settings: plain Python, testable
without ROS (the node itself: ros_node.py).

The engine's parameters are derived from attnseg.settings (their defaults from the "robot" preset: the
paper's model on the device the machine has, official DINO weights from the cache unless a checkpoint or
random weights are asked for, and the help of each field), and the node's own (QoS, stale frames,
diagnostics) from RosNodeSettings there, so no default is written here. ROS parameters are scalars: the
resolution is `height` and `width`, an unset optional setting is "".
Topics are not parameters: remap them (`--ros-args -r image:=/camera/image_raw`).

    python -m attnseg.integrations.ros_params > ros2/attnseg_ros/config/attnseg.yaml   # the shipped file
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from enum import Enum

from ..errors import SettingError
from ..settings import (
    PRESETS,
    ModelSettings,
    Reliability,
    RosbagSettings,
    RosNodeSettings,
    RuntimeSettings,
    SegmentConfig,
    StreamConfig,
    vit_config,
)

log = logging.getLogger(__name__)

ROBOT = PRESETS["robot"]
ENGINE_FIELDS = {  # parameter name -> (settings class, field, default instance)
    "checkpoint": (ModelSettings, "checkpoint", ROBOT["model"]),
    "random_weights": (ModelSettings, "random_weights", ROBOT["model"]),
    "arch": (ModelSettings, "arch", ROBOT["model"]),
    "device": (ModelSettings, "device", ROBOT["model"]),
    **{name: (SegmentConfig, name, ROBOT["segment"]) for name in
       ("backend", "artifact", "precision", "kernels", "normalization", "tau", "ratio")},
    **{name: (StreamConfig, name, StreamConfig()) for name in ("window", "causal", "memory", "max_age",
                                                                "track_tokens")},
    "carry": (RuntimeSettings, "carry", RuntimeSettings()),
    "label_encoding": (RosbagSettings, "encoding", RosbagSettings()),
}
NODE_FIELDS = {f.name: (RosNodeSettings, f.name, RosNodeSettings()) for f in dataclasses.fields(RosNodeSettings)}


def _scalar(value):
    """A settings value as a ROS parameter value: enums by their value, None as ""."""
    if isinstance(value, Enum):
        return value.value
    return "" if value is None else value


def _parameters() -> dict[str, tuple[object, str]]:
    params = {}
    for name, (cls, field_name, defaults) in {**ENGINE_FIELDS, **NODE_FIELDS}.items():
        help_text = next(f for f in dataclasses.fields(cls) if f.name == field_name).metadata.get("help", "")
        params[name] = (_scalar(getattr(defaults, field_name)), help_text)
        if name == "arch":  # the resolution, as two scalar parameters, after the arch
            height, width = ROBOT["segment"].resolution
            params["height"] = (height, "input height fed to the ViT (a multiple of the patch size)")
            params["width"] = (width, "input width fed to the ViT")
    return params


# name: (default, description); the type of the default is the parameter's type
PARAMETERS: dict[str, tuple[object, str]] = _parameters()


@dataclass(frozen=True)
class NodeSettings:
    segment: dict  # keyword arguments of attnseg.engine.SegmentConfig
    stream: dict  # keyword arguments of attnseg.engine.StreamConfig
    model: dict  # keyword arguments of Segmenter.from_checkpoint besides config
    label_encoding: str
    publish_overlay: bool
    reliable: bool
    qos_depth: int
    max_frame_age: float
    latency_budget_ms: float
    diagnostics_period: float
    carry: bool  # frames the engine cannot take get carried labels (published on carried_labels)


def settings(values: dict) -> NodeSettings:
    """Parameter values (defaults filled in) -> what the node builds; SettingError names a bad one."""
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise SettingError(f"unknown parameters {sorted(unknown)}; known: {', '.join(PARAMETERS)}")
    v = {name: values.get(name, default) for name, (default, _) in PARAMETERS.items()}
    for name, (default, _) in PARAMETERS.items():
        if type(v[name]) is not type(default) and not (isinstance(default, float) and isinstance(v[name], int)):
            raise SettingError(f"parameter {name} must be {type(default).__name__}, got {v[name]!r}")
    if v["reliability"] not in Reliability.values():
        raise SettingError(f"reliability must be {' or '.join(Reliability.values())}, got {v['reliability']!r}")
    encodings = [e.value for e in type(RosbagSettings().encoding)]
    if v["label_encoding"] not in encodings:
        raise SettingError(f"label_encoding must be {' or '.join(encodings)}, got {v['label_encoding']!r}")
    segment = {"resolution": (v["height"], v["width"]), "ratio": v["ratio"], "tau": float(v["tau"]),
               "normalization": v["normalization"], "backend": v["backend"], "kernels": v["kernels"],
               "artifact": v["artifact"] or None, "precision": v["precision"] or None}
    stream = {"window": v["window"], "causal": v["causal"], "ratio": v["ratio"], "memory": v["memory"], "tau": float(v["tau"]),
              "max_age": v["max_age"], "track_tokens": v["track_tokens"]}
    model = {"checkpoint": v["checkpoint"] or None, "random_weights": v["random_weights"], "arch": v["arch"],
             "device": v["device"]}
    ModelSettings(**model)  # one weight source, a known arch and device: refused here, before any loading
    SegmentConfig(**segment).check_patches(vit_config(v["arch"]).patch_size)  # every value, before the model is built
    StreamConfig(**stream)
    RosNodeSettings(publish_overlay=v["publish_overlay"], reliability=v["reliability"], qos_depth=v["qos_depth"],
                    max_frame_age=float(v["max_frame_age"]), latency_budget_ms=float(v["latency_budget_ms"]),
                    diagnostics_period=float(v["diagnostics_period"]))
    return NodeSettings(segment, stream, model, v["label_encoding"], v["publish_overlay"],
                        Reliability.parse(v["reliability"]) is Reliability.RELIABLE, v["qos_depth"],
                        float(v["max_frame_age"]),
                        float(v["latency_budget_ms"]), float(v["diagnostics_period"]), v["carry"])


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
