"""Named states: enums whose members are also their string values (`Backend.EAGER == "eager"`, and JSON
writes "eager"), so a state is never a string parsed back. attnseg.settings re-exports every one.

    Choice                 the base: parse() accepts a member or its value, and names the valid ones
    Device, Backend, Kernels, Normalization, Precision      how a clip is segmented
    DropPolicy, OnDisconnect, EndReason                     the streaming runtime
    LabelEncoding, BagStorage, Reliability                  rosbag2 output, the ROS 2 node
    WeightsSource, FrontEndMode                             where the weights came from, what computes q/k
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Any

from .errors import SettingError


class Choice(str, Enum):
    """A named state: compares, prints and serializes as its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def parse(cls, value: Any, what: str | None = None):
        """The member whose value is `value` (or the member itself); SettingError naming the valid ones."""
        if isinstance(value, cls):
            return value
        aliases = getattr(cls, "_aliases", lambda: {})()
        try:
            return cls(aliases.get(value, value))
        except ValueError:
            valid = ", ".join([*cls.values(), *aliases])
            what = what or re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()  # DropPolicy: "drop policy"
            raise SettingError(f"unknown {what} {value!r}; choose from {valid}") from None


class Device(Choice):
    CPU = "cpu"
    CUDA = "cuda"
    AUTO = "auto"  # cuda when a CUDA device is present, else cpu (attnseg.engine.segmenter.resolve_device)


class Backend(Choice):
    """How the front-end runs (attnseg.engine.backends)."""

    AUTO = "auto"  # the fastest with exact labels on the device at hand (attnseg.engine.backends)
    EAGER = "eager"  # the reference module
    COMPILED = "compiled"  # torch.compile
    ONNXRUNTIME = "onnxruntime"  # exported artifacts (attnseg.export)
    TENSORRT = "tensorrt"
    AOTI = "aoti"
    OPENVINO = "openvino"  # the ONNX artifact run by OpenVINO (CPU)

    @staticmethod
    def _aliases() -> dict[str, str]:
        return {"torch": "eager"}

    @property
    def exported(self) -> bool:
        return self in (Backend.ONNXRUNTIME, Backend.TENSORRT, Backend.AOTI, Backend.OPENVINO)


class Kernels(Choice):
    """Which clustering implementation runs (attnseg.kernels.dispatch)."""

    AUTO = "auto"  # on CUDA the fastest of the three, measured; the reference elsewhere
    TORCH = "torch"  # the reference
    TRITON = "triton"  # fp32 Triton kernels
    CERTIFIED = "certified"  # fast low-precision products, every decision certified (attnseg.kernels.certified)


class Normalization(Choice):
    KINETICS = "kinetics"  # what the paper's evaluation feeds (SPEC 2)
    IMAGENET = "imagenet"  # what it was trained with


class Precision(Choice):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class DropPolicy(Choice):
    """What a full frame queue does (attnseg.engine.live.runtime)."""

    DROP_OLDEST = "drop-oldest"  # live sources: a stale frame is dropped and counted
    WAIT = "wait"  # files: capture waits, nothing is lost


class OnDisconnect(Choice):
    """What a live source that disconnects does (RuntimeSettings.on_disconnect)."""

    END = "end"  # its stream ends; the others go on
    RECONNECT = "reconnect"  # reopened, up to reconnect_attempts times


class EndReason(Choice):
    """Why a stream ended (StreamStats.end_reason; StreamStats.ended_by adds the detail)."""

    RUNNING = "running"
    END_OF_SOURCE = "end of source"
    MAX_FRAMES = "max frames"
    DISCONNECTED = "source disconnected"
    STALLED = "source stalled"
    ERROR = "error"
    STOPPED = "stopped by the consumer"


class Reliability(Choice):
    """QoS reliability of the ROS 2 node's subscription and publishers."""

    BEST_EFFORT = "best_effort"  # takes both reliable and best-effort publishers; frames may be lost
    RELIABLE = "reliable"


class LabelEncoding(Choice):
    """sensor_msgs/Image encodings of a label map."""

    MONO16 = "mono16"  # ids up to 65535
    INT32 = "32SC1"


class BagStorage(Choice):
    """The rosbag2 storage plugin a bag is written with."""

    SQLITE3 = "sqlite3"  # one SQLite 3 database file
    MCAP = "mcap"  # one MCAP container file


class WeightsSource(Choice):
    """Where the front-end's weights came from (attnseg.model.build)."""

    CHECKPOINT = "checkpoint"
    DINO_WEIGHTS = "dino-weights"
    DINO_CACHE = "dino-cache"
    RANDOM = "random"


class FrontEndMode(Choice):
    """What the front-end computes q, k with (attnseg.model.frontend)."""

    ST = "st"  # the paper's spatio-temporal block on DINO's keys
    DINO_ONLY = "dino-only"  # the last DINO block's own q, k: no ST checkpoint, not the paper's method

    @property
    def description(self) -> str:
        """One line for a run's output."""
        if self is FrontEndMode.ST:
            return "mode: st (DINO + spatio-temporal block, the paper's method)"
        return ("mode: dino-only (no ST checkpoint: affinity from the last DINO block's own q/k; not the paper's "
                "method)")
