"""OpenVINO: the ONNX artifact (onnx_export.py) run by OpenVINO's CPU runtime, the inference runtime of many
robotics stacks.

It reads the same `model.onnx` (+ `.data`) onnxruntime runs; nothing else is built. The model is compiled once per
batch size, its batch axis fixed (OpenVINO plans a static shape better than a dynamic one), for latency
(PERFORMANCE_HINT LATENCY) in fp32: INFERENCE_PRECISION_HINT f32 is always set, so a CPU with bf16 instructions
never lowers the precision on its own. bf16 runs only when asked (`precision="bf16"`) on a CPU whose OpenVINO
capabilities list BF16, and is refused elsewhere (it would be emulated); its labels are then not the fp32 ones:
benchmarks/frontend_backends.py prints and records their token agreement on the DAVIS clips.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import DeviceError, ExportError, SettingError
from ..optional import missing
from .onnx_export import INPUT, OUTPUTS

HINTS = {"fp32": "f32", "bf16": "bf16"}  # attnseg's precision -> OpenVINO's INFERENCE_PRECISION_HINT


def available() -> str | None:
    """None when OpenVINO (and the ONNX export it reads) can run here, else why not."""
    return missing("openvino", "onnx", "onnxscript", "onnxruntime", extra="openvino")


@functools.cache
def capabilities() -> tuple[str, ...]:
    """What OpenVINO finds this CPU can compute natively: FP32, and BF16 / INT8 where it has the instructions."""
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def check_precision(precision: str) -> None:
    """Refuse a precision OpenVINO cannot run natively on this CPU, in one line."""
    if precision not in HINTS:
        raise SettingError(f"openvino runs fp32, or bf16 where the CPU has it; not {precision}")
    if precision == "bf16" and "BF16" not in capabilities():
        raise SettingError(f"this CPU has no bf16 instructions (OpenVINO finds {', '.join(capabilities())}; "
                           f"torch: {torch.backends.cpu.get_cpu_capability()}): bf16 would be emulated, slower than "
                           "fp32; run fp32")


class OpenVinoRunner:
    """images -> (q, k) through OpenVINO on the CPU, one compiled model per batch size."""

    def __init__(self, path: Path, device: torch.device, threads: int | None = None, precision: str = "fp32"):
        import openvino as ov

        if device.type != "cpu":
            raise DeviceError(f"the openvino backend runs on the cpu, not {device.type}")
        check_precision(precision)
        data = path.with_name(path.name + ".data")
        if not data.is_file():
            raise ExportError(f"{path}: its weights file {data.name} is missing; it must sit beside the model")
        self.core, self.path = ov.Core(), path
        self.config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.precision = precision
        try:
            self.model = self.core.read_model(str(path))
        except RuntimeError as err:
            raise ExportError(f"{path}: OpenVINO cannot read it ({str(err).splitlines()[0]})") from None
        self.requests: dict[tuple, object] = {}  # input shape -> its infer request

    def _request(self, shape: tuple[int, ...]):
        if shape not in self.requests:
            model = self.model.clone()
            model.reshape({INPUT: list(shape)})
            self.requests[shape] = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        return self.requests[shape]

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        request = self._request(feed.shape)
        request.infer({INPUT: feed})
        q, k = (request.get_tensor(name).data for name in OUTPUTS)
        return torch.from_numpy(q.copy()), torch.from_numpy(k.copy())
