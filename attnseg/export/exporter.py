"""The one export entry point, driven by the table of formats, and the one loader.

    result = export(frontend, format="onnx", resolution=(320, 480), out="fe.onnx")
    run = load("fe.onnx", device="cpu", expect=identity_of(frontend, (320, 480), "kinetics"))
    q, k = run(images)

Each format is a row of FORMATS: its file suffix, the engine backend that runs
it, its precisions (the first is the default), the devices it builds on, an
availability probe, and thin export / load functions in its own module.
Every artifact is loaded back after export and its q, k compared with the
reference front-end on the same batch; an fp32 artifact that disagrees by
more than 1e-3 of the outputs' scale is an error, not a file.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import DeviceError, ExportError, MissingDependency, SettingError
from ..files import write_atomic
from ..model import FrontEnd
from ..settings import PAPER, ExportSettings
from . import aoti_export, onnx_export, tensorrt_export
from .metadata import ArtifactMeta, check_identity, identity_of, sidecar
from .static import StaticFrontEnd

Runner = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
EXPORT = ExportSettings()  # the defaults (attnseg.settings)
FP32_TOLERANCE = 1e-3  # max |exported - reference| / max |reference|: float32 reassociation is ~1e-6


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    backend: str  # the engine backend that runs it (attnseg segment --backend)
    precisions: tuple[str, ...]  # the first is the default
    devices: tuple[str, ...]  # device types it can be built on
    available: Callable[[], str | None]  # None, or why it cannot be built here
    export: Callable  # (StaticFrontEnd, ArtifactMeta, dest) -> ArtifactMeta | None
    load: Callable  # (path, ArtifactMeta, device, threads) -> Runner
    embeds_meta: bool  # metadata inside the file (else in a .meta.json beside it)
    check_device: Callable[[torch.device], torch.device] = lambda device: device  # where the load-back runs


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", ".onnx", "onnxruntime", ("fp32",), ("cpu", "cuda"), onnx_export.available,
                   onnx_export.export_onnx, onnx_export.load_onnx, True, onnx_export.check_device),
    "tensorrt": Format("tensorrt", ".plan", "tensorrt", ("fp16", "bf16"), ("cuda",), tensorrt_export.available,
                       tensorrt_export.export_tensorrt, tensorrt_export.load_tensorrt, False),
    "aoti": Format("aoti", ".pt2", "aoti", ("fp32", "bf16"), ("cpu", "cuda"), aoti_export.available,
                   aoti_export.export_aoti, aoti_export.load_aoti, False),
}
OTHER_RUNTIMES = {"openvino": "onnx"}  # backends that run another format's file with their own runtime
FORMAT_OF_BACKEND = {**{f.backend: f.name for f in FORMATS.values()}, **OTHER_RUNTIMES}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    meta: ArtifactMeta
    seconds: float  # export + load-back check
    max_abs_error: dict[str, float]  # q, k against the reference front-end on the check batch
    relative_error: float  # the larger of max|err| / max|ref| over q and k


def format_of(name: str) -> Format:
    if name not in FORMATS:
        raise SettingError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[name]


def require(name: str) -> Format:
    """The format `name`, or a MissingDependency saying why it cannot be built here (before any weights load)."""
    fmt = format_of(name)
    reason = fmt.available()
    if reason:
        raise MissingDependency(f"cannot export {name} here: {reason}")
    return fmt


def export(frontend: FrontEnd, *, format: str, resolution: tuple[int, int], out: str | Path,
           normalization: str = PAPER.normalization, precision: str | None = None, max_batch: int = EXPORT.max_batch,
           checkpoint_sha256: str | None = None) -> ExportResult:
    """Export `frontend` at `resolution` as `format` to `out`; load it back and check it."""
    fmt = format_of(format)
    precision = precision or fmt.precisions[0]
    if precision not in fmt.precisions:
        raise SettingError(f"{format} supports precision {', '.join(fmt.precisions)}, not {precision}")
    require(format)
    device = next(frontend.parameters()).device
    if device.type not in fmt.devices:
        raise DeviceError(f"{format} builds on {' or '.join(fmt.devices)}, not {device.type}")
    if max_batch < 1:
        raise SettingError(f"max_batch must be >= 1, got {max_batch}")
    out = Path(out)
    if out.suffix != fmt.suffix:
        raise SettingError(f"the name of a {format} artifact ends in {fmt.suffix}, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    identity = identity_of(frontend, resolution, normalization)
    meta = ArtifactMeta(format=format, precision=precision, max_batch=max_batch,
                        heads=frontend.num_heads, head_dim=frontend.head_dim,
                        checkpoint_sha256=checkpoint_sha256,
                        extra={"opset": onnx_export.OPSET} if format == "onnx" else {}, **identity)
    module = StaticFrontEnd(frontend, resolution, precision if format == "aoti" else "fp32").eval()
    meta = fmt.export(module, meta, out) or meta
    if not fmt.embeds_meta:
        write_atomic(sidecar(out), meta.to_json())
    errors, relative = _check(load(out, device=fmt.check_device(device), expect=identity), module, precision)
    return ExportResult(out, meta, time.perf_counter() - start, errors, relative)


def read_meta(path: str | Path) -> ArtifactMeta:
    """The metadata of an artifact: embedded (ONNX) or from its .meta.json."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"artifact {path} does not exist")
    if path.suffix == FORMATS["onnx"].suffix:
        return onnx_export.read_onnx_meta(path)
    side = sidecar(path)
    if not side.is_file():
        raise ExportError(f"{path}: its metadata {side.name} is missing; it must sit beside the artifact")
    return ArtifactMeta.from_json(side.read_text(), str(side))


def load(path: str | Path, *, device: str | torch.device = "cpu", expect: dict | None = None,
         threads: int | None = None) -> Runner:
    """A runner images -> (q, k) for the artifact at `path`, refused unless its identity is `expect`."""
    path, device = Path(path), torch.device(device)
    meta = read_meta(path)
    if expect is not None:
        check_identity(meta, expect, path)
    fmt = format_of(meta.format)
    reason = fmt.available()
    if reason:
        raise MissingDependency(f"cannot run {path} here: {reason}")
    return _Batched(fmt.load(path, meta, device, threads), meta.max_batch)


class _Batched:
    """Splits batches larger than the artifact's max_batch."""

    def __init__(self, run: Runner, max_batch: int):
        self.run, self.max_batch = run, max_batch

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[0] <= self.max_batch:
            return self.run(images)
        parts = [self.run(images[i:i + self.max_batch]) for i in range(0, images.shape[0], self.max_batch)]
        return torch.cat([q for q, _ in parts]), torch.cat([k for _, k in parts])


@torch.inference_mode()
def _check(run: Runner, module: StaticFrontEnd, precision: str) -> tuple[dict[str, float], float]:
    images = module.example(2)
    want = module.frontend(images)
    got = run(images)
    errors, relative = {}, 0.0
    for name, g, w in zip(("q", "k"), got, want):
        if g.shape != w.shape:
            raise ExportError(f"the exported {name} has shape {tuple(g.shape)}, the reference {tuple(w.shape)}")
        err = (g.float().to(w.device) - w).abs().max().item()
        errors[name] = err
        relative = max(relative, err / max(w.abs().max().item(), 1e-12))
    if not relative == relative or (precision == "fp32" and relative > FP32_TOLERANCE):
        raise ExportError(f"the exported front-end disagrees with the reference: max |error| {errors} "
                         f"({relative:.2e} of the outputs' scale)")
    return errors, relative

