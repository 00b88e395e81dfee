"""The node's declared parameters and their mapping onto the engine's config: plain Python, testable without ROS.

Topics are not parameters: remap them (`--ros-args -r image:=/camera/image_raw`).
"""
from __future__ import annotations

from dataclasses import dataclass

# name: (default, description); the type of the default is the parameter's type
PARAMETERS: dict[str, tuple[object, str]] = {
    "checkpoint": ("", "paper checkpoint (backbone + ST block); empty: random weights, for smoke tests only"),
    "arch": ("vit_small_8", "ViT preset of the checkpoint"),
    "device": ("cuda", "cuda or cpu"),
    "backend": ("eager", "front-end backend: eager, compiled, onnxruntime, tensorrt, aoti"),
    "engine": ("", "artifact of `attnseg export` for an exported backend; empty: built once into the cache"),
    "precision": ("", "exported backends: fp32, fp16 or bf16; empty: the format's default"),
    "kernels": ("auto", "clustering kernels: auto, torch, triton"),
    "height": (320, "input height fed to the ViT (a multiple of the patch size)"),
    "width": (480, "input width fed to the ViT"),
    "normalization": ("kinetics", "kinetics or imagenet"),
    "tau": (1.0, "symmetric-KL threshold of the clustering and of track linking"),
    "window": (3, "frames clustered together (a frame's labels wait for its window)"),
    "ratio": (10, "a key frame every `ratio` processed frames"),
    "memory": (4, "key frames in the rolling memory"),
    "max_age": (10, "windows a lost object keeps its id"),
    "label_encoding": ("mono16", "labels image encoding: mono16 (ids < 65536) or 32SC1"),
    "publish_overlay": (False, "also publish the colour overlay (rgb8) on `overlay`"),
    "reliability": ("best_effort", "QoS reliability of the subscription and publishers: best_effort or reliable"),
    "qos_depth": (1, "QoS history depth"),
    "max_frame_age": (0.5, "seconds: an image whose header stamp is older is dropped unprocessed (0: never)"),
    "latency_budget_ms": (1000.0, "diagnostics turn WARN when the p99 latency exceeds this"),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages"),
}


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


def settings(values: dict) -> NodeSettings:
    """Parameter values (defaults filled in) -> what the node builds; ValueError names a bad one."""
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; known: {', '.join(PARAMETERS)}")
    v = {name: values.get(name, default) for name, (default, _) in PARAMETERS.items()}
    for name, (default, _) in PARAMETERS.items():
        if type(v[name]) is not type(default) and not (isinstance(default, float) and isinstance(v[name], int)):
            raise ValueError(f"parameter {name} must be {type(default).__name__}, got {v[name]!r}")
    if v["reliability"] not in ("best_effort", "reliable"):
        raise ValueError(f"reliability must be best_effort or reliable, got {v['reliability']!r}")
    if v["label_encoding"] not in ("mono16", "32SC1"):
        raise ValueError(f"label_encoding must be mono16 or 32SC1, got {v['label_encoding']!r}")
    segment = {"resolution": (v["height"], v["width"]), "ratio": v["ratio"], "tau": float(v["tau"]),
               "normalization": v["normalization"], "backend": v["backend"], "kernels": v["kernels"],
               "engine": v["engine"] or None, "precision": v["precision"] or None}
    stream = {"window": v["window"], "ratio": v["ratio"], "memory": v["memory"], "tau": float(v["tau"]),
              "max_age": v["max_age"]}
    model = {"checkpoint": v["checkpoint"] or None, "random_weights": not v["checkpoint"], "arch": v["arch"],
             "device": v["device"]}
    return NodeSettings(segment, stream, model, v["label_encoding"], v["publish_overlay"],
                        v["reliability"] == "reliable", v["qos_depth"], float(v["max_frame_age"]),
                        float(v["latency_budget_ms"]), float(v["diagnostics_period"]))
