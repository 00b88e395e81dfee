"""Named starting points for the faces whose users expect other defaults than the paper's: each a whole
SessionSettings (attnseg.settings), every value not named here the settings' own default.

    PRESETS["live"].model.arch        # "vit_small_16": the demo's small ViT
"""
from __future__ import annotations

from .settings import (Backend, Device, DropPolicy, Kernels, ModelSettings, RuntimeSettings, SegmentSettings,
                       SessionSettings)

PRESETS: dict[str, SessionSettings] = {
    # live video on a laptop (`attnseg demo`): the small ViT at a quarter of the paper's pixels; a file or folder
    # plays at its own frame rate and drops what the session cannot take, as a camera; one frame waits, not two:
    # p99 860-915 ms instead of 1.05-1.29 s (benchmarks/demo_latency.py); the fastest front-end with exact labels
    # here (auto: eager, onnxruntime or openvino, measured once: benchmarks/live_targets.py)
    "live": SessionSettings(model=ModelSettings(arch="vit_small_16"),
                            segment=SegmentSettings(resolution=(160, 240), backend=Backend.AUTO),
                            runtime=RuntimeSettings(realtime=True, drop=DropPolicy.DROP_OLDEST, queue_size=1)),
    # a robot (the ROS 2 node): the paper's model on the device it has, CUDA when present; the newest image only,
    # nothing ends the stream but the node
    "robot": SessionSettings(model=ModelSettings(device=Device.AUTO),
                             runtime=RuntimeSettings(drop=DropPolicy.DROP_OLDEST, queue_size=1, stall_timeout=None)),
    # `attnseg sample`: a generated clip segmented in seconds on a laptop CPU
    "sample": SessionSettings(segment=SegmentSettings(resolution=(192, 256))),
    # `attnseg segment`, `batch` and `stream`: the fastest front-end with exact labels on the device at hand
    "cli": SessionSettings(segment=SegmentSettings(backend=Backend.AUTO)),
    # `attnseg bench`: the reference front-end and clustering at a size a small CPU times in minutes
    "bench": SessionSettings(model=ModelSettings(arch="vit_small_8"),
                             segment=SegmentSettings(resolution=(160, 256), backend=Backend.EAGER,
                                                   kernels=Kernels.TORCH)),
}
