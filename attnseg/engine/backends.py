"""Front-end backends: how a batch of normalized images becomes q, k.

One table, BACKENDS: name -> builder(frontend, device, config, checkpoint_sha256) -> a callable
images (B, 3, H, W) -> (q, k), each (B, heads, h*w, head_dim); `config` is the run's SegmentSettings (its
resolution, normalization, batch size and, for exported forms, artifact, precision and threads).

- auto: the fastest with exact labels on the device at hand. On a CPU with onnxruntime installed, the
  fastest of eager, onnxruntime and (where installed) OpenVINO in fp32 (labels equal:
  benchmarks/results/frontend_labels_cpu.json) on one batch of this run's size, measured once per machine
  and remembered (`faster`); a lower precision is never among them; without onnxruntime,
  or when the ONNX front-end cannot be built, eager, said in one log line. On CUDA eager, until the
  device suite has measured a faster exact one there (docs/gpu.md).
- eager (alias torch): the reference module (attnseg.model.FrontEnd) as it is.
- compiled: torch.compile of the same module; its first call per input shape
  compiles (tens of seconds on a small CPU), later calls reuse the graph.
- openvino: the ONNX artifact run by OpenVINO on the CPU (attnseg.export.openvino_runtime), fp32, or bf16
  only when asked and the CPU has it.
- onnxruntime, tensorrt, aoti: an artifact of attnseg.export. With
  config.artifact it is loaded from that path (refused when it was built for
  another arch, mode, resolution, normalization or weights); without, it is
  exported once into the cache ($ATTNSEG_CACHE/artifacts) and reused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from glob import escape as glob_escape
from pathlib import Path
from typing import Callable

import torch

from .. import export
from ..export import openvino_runtime
from ..export.metadata import check_identity
from ..errors import ExportError, MissingDependency
from ..files import measured_once, remembered
from ..model import FrontEnd
from ..model.vit import interpolate_pos_embed
from ..model.weights import cache_dir
from ..optional import importable, installed_version
from ..settings import ARTIFACT_CACHE_FILES, AUTO_MEASURE_FRAMES, Backend, SegmentSettings
from .encode import Runner

log = logging.getLogger(__name__)
CACHED_SUFFIXES = {fmt.suffix for fmt in export.FORMATS.values()}


def _eager(frontend: FrontEnd, device: torch.device, config: SegmentSettings, sha: str | None) -> Runner:
    """The reference front-end, with its positional embedding interpolated once for the resolution (SPEC 3),
    not at every call."""
    backbone = frontend.backbone
    pos_embed = interpolate_pos_embed(backbone.pos_embed, *backbone.grid(*config.resolution)).detach()

    def pos(images: torch.Tensor) -> torch.Tensor | None:
        return pos_embed if images.shape[-2:] == tuple(config.resolution) else None  # other sizes: as before

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return frontend(images, pos(images))
    run.queries = lambda images: frontend.queries(images, pos(images))  # q alone: frames that need no k
    return run


def _compiled(frontend: FrontEnd, device: torch.device, config: SegmentSettings, sha: str | None) -> Runner:
    return PaddedBatches(torch.compile(frontend, dynamic=False), config.batch_size)


class PaddedBatches:
    """Runs batches of 2..batch_size-1 frames padded to batch_size, so a static-shape compile sees two
    shapes (1: streaming, batch_size: offline) instead of recompiling for every clip's last batch."""

    def __init__(self, run: Runner, batch_size: int):
        self.run, self.batch_size = run, batch_size

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = images.shape[0]
        if b == 1 or b >= self.batch_size:
            return self.run(images)
        pad = images[-1:].expand(self.batch_size - b, *images.shape[1:])
        q, k = self.run(torch.cat([images, pad]))
        return q[:b], k[:b]


Builder = Callable[[FrontEnd, torch.device, SegmentSettings, "str | None"], Runner]


def _exported(format_name: str, runtime: Callable | None = None) -> Builder:
    """An artifact of `format_name` (given, or built once into the cache), run by its format's loader, or by
    `runtime(path, device, threads, precision)`: another runtime of the same file (OpenVINO reads the ONNX one), where
    the precision is the runtime's, the file staying fp32."""
    def build(frontend: FrontEnd, device: torch.device, config: SegmentSettings, sha: str | None) -> Runner:
        expect = export.identity_of(frontend, config.resolution, config.normalization)
        built_as = config if runtime is None else dataclasses.replace(config, precision=None)
        path = Path(config.artifact) if config.artifact else _cached_artifact(format_name, expect, built_as, device)
        if runtime is not None:  # before any export: the runtime is there, and runs this precision here
            why = openvino_runtime.available()
            if why:
                raise MissingDependency(f"the openvino backend cannot run here: {why}")
            openvino_runtime.check_precision(config.precision or "fp32")
        if config.artifact and config.precision and runtime is None:
            built = export.read_meta(path).precision
            if built != config.precision:
                raise ExportError(f"{path} was built in {built}, not the {config.precision} asked for")
        if not path.is_file() and not config.artifact:
            log.info("exporting the front-end as %s to %s (once; later runs reuse it)", format_name, path)
            export.export(frontend, format=format_name, resolution=config.resolution, out=path,
                          normalization=config.normalization, precision=built_as.precision, checkpoint_sha256=sha)
        if not config.artifact:  # the cache: marked as used, its oldest artifacts removed past the limit
            with contextlib.suppress(OSError):
                os.utime(path)
                prune_artifacts(path.parent, path, ARTIFACT_CACHE_FILES)
        if runtime is None:
            return export.load(path, device=device, expect=expect, threads=config.threads)
        check_identity(export.read_meta(path), expect, path)
        return runtime(path, device, config.threads, config.precision or "fp32")
    return build


def _cached_artifact(format_name: str, identity: dict, config: SegmentSettings, device: torch.device) -> Path:
    fmt = export.format_of(format_name)
    h, w = config.resolution
    name = (f"{identity['arch']}_{identity['mode']}_{h}x{w}_{config.normalization}_"
            f"{identity['weights_digest'][:16]}_{config.precision or fmt.precisions[0]}_{device.type}{fmt.suffix}")
    return cache_dir() / "artifacts" / name


def _auto(frontend: FrontEnd, device: torch.device, config: SegmentSettings, sha: str | None,
          measure: bool = True) -> Runner:
    if device.type != "cpu":
        log.info("backend auto: eager (no faster exact front-end measured on %s yet)", device.type)
        return Named(_eager(frontend, device, config, sha), Backend.EAGER)
    missing = onnx_missing()
    if missing:
        log.info("backend auto: eager (%s not installed; pip install 'attnseg[export]' for onnxruntime)",
                 ", ".join(missing))
        return Named(_eager(frontend, device, config, sha), Backend.EAGER)
    path, key = auto_choices_path(), auto_key(frontend, config)
    known = remembered(path, key)
    if known == Backend.EAGER:  # measured before: no ONNX front-end to build or load
        log.info("backend auto: eager (measured faster on this CPU before; remembered in %s)", path)
        return Named(_eager(frontend, device, config, sha), Backend.EAGER)
    if known is None and not measure:
        log.warning("backend auto: eager for this short clip (building and timing the ONNX front-ends here takes "
                    "longer than they would save on it; a run of %d frames or more measures them once)",
                    AUTO_MEASURE_FRAMES)
        return Named(_eager(frontend, device, config, sha), Backend.EAGER)
    artifact = _cached_artifact("onnx", export.identity_of(frontend, config.resolution, config.normalization),
                                config, device)
    megabytes = sum(p.numel() * 4 for p in frontend.parameters()) / 2**20
    stored = (f"the ONNX front-end, about {megabytes:.0f} MB, goes into {artifact.parent}, where the "
              f"{ARTIFACT_CACHE_FILES} most recently used are kept")
    if known is None:
        log.warning("backend auto: timing the eager front-end against onnxruntime on this CPU, once for this model and "
                    "size (the choice is remembered in %s; %s; --backend eager skips this)", path, stored)
    elif not artifact.is_file():
        log.warning("backend auto: onnxruntime, measured faster here before (%s)", stored)
    try:
        onnx = _exported("onnx")(frontend, device, config, sha)
    except (ExportError, OSError, RuntimeError, ValueError) as err:
        log.warning("backend auto: eager (the ONNX front-end could not be built: %s)", err)
        return Named(_eager(frontend, device, config, sha), Backend.EAGER)
    runners = {Backend.EAGER: _eager(frontend, device, config, sha), Backend.ONNXRUNTIME: onnx}
    if importable("openvino") and known in (None, Backend.OPENVINO):  # the same ONNX file through OpenVINO, fp32
        try:
            runners[Backend.OPENVINO] = BACKENDS[Backend.OPENVINO](frontend, device, config, sha)
        except (ExportError, OSError, RuntimeError) as err:
            log.warning("backend auto: openvino left out (it cannot run the ONNX front-end: %s)", err)
    choice = faster(runners, frontend, config)
    return Named(runners[choice], choice)


def auto_choices_path() -> Path:
    """Where `auto` remembers what it measured."""
    return cache_dir() / "backend_auto.json"


def onnx_missing() -> list[str]:
    """The modules an ONNX front-end needs that are not installed (`auto` then runs eager)."""
    return [m for m in ("onnxruntime", "onnx", "onnxscript") if not importable(m)]


def host_key() -> dict:
    """The part of auto_key that names this machine: its CPU, threads and versions."""
    import platform

    return {"cpu": platform.processor() or platform.machine(), "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "onnxruntime": installed_version("onnxruntime"), "openvino": installed_version("openvino")}


def auto_key(frontend: FrontEnd, config: SegmentSettings) -> dict:
    """What `auto`'s measurement holds for: this CPU, its threads, the versions, the model and the input size."""
    identity = export.identity_of(frontend, config.resolution, config.normalization)
    return {**host_key(), "arch": identity["arch"], "mode": str(identity["mode"]),
            "resolution": list(config.resolution), "batch": config.batch_size}


def prune_artifacts(folder: Path, keep: Path, limit: int) -> None:
    """The `limit` most recently used artifacts of the cache (with their .data and .meta.json) stay; `keep`, the one
    in use, always does."""
    artifacts = sorted((p for p in folder.glob("*") if p.suffix in CACHED_SUFFIXES and p.is_file()),
                       key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [p for p in artifacts if p != keep][max(0, limit - 1):]:
        for part in folder.glob(glob_escape(old.name) + "*"):
            with contextlib.suppress(OSError):
                part.unlink()
        log.info("backend cache: removed %s (more than %d artifacts)", old.name, limit)


def time_batch(run: Runner, config: SegmentSettings, repeats: int = 2) -> float:
    """Best seconds of one batch of `config.batch_size` images through `run`, after a warm-up call."""
    images = torch.randn(config.batch_size, 3, *config.resolution, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            run(images)
            if i:
                best = min(best, time.perf_counter() - start)
    return best


def faster(runners: dict[Backend, Runner], frontend: FrontEnd, config: SegmentSettings,
           timer: Callable[[Runner, SegmentSettings], float] | None = None) -> Backend:
    """The backend whose runner takes one batch fastest on this CPU, measured once per CPU, versions, model
    and input size and remembered in $ATTNSEG_CACHE/backend_auto.json (onnxruntime ran 1.7x the eager
    front-end on a 2-core AMD EPYC, but 0.9x on a 2-core Xeon with AMX: it is never assumed)."""
    key, path = auto_key(frontend, config), auto_choices_path()
    timer = timer or time_batch
    choice, seconds = measured_once(path, key, lambda: {b.value: timer(run, config) for b, run in runners.items()},
                                    "backend auto")
    if seconds:
        log.info("backend auto: %s (a batch of %d at %dx%d: %s; remembered in %s)", choice, config.batch_size,
                 *config.resolution, ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in seconds.items()), path)
    return Backend(choice)


class Named:
    """A runner that says which backend it is (what `auto` chose)."""

    def __init__(self, run: Runner, backend: Backend):
        self.run, self.backend = run, backend
        if hasattr(run, "queries"):  # q alone (the eager front-end)
            self.queries = run.queries

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run(images)


BACKENDS: dict[Backend, Builder] = {
    Backend.AUTO: _auto, Backend.EAGER: _eager, Backend.COMPILED: _compiled,
    **{Backend(fmt.backend): _exported(name) for name, fmt in export.FORMATS.items()},
    Backend.OPENVINO: _exported(export.exporter.OTHER_RUNTIMES["openvino"], openvino_runtime.OpenVinoRunner),
}


def load_backend(config: SegmentSettings, frontend: FrontEnd, device: torch.device,
                 checkpoint_sha256: str | None = None, *, measure: bool = True) -> Runner:
    """The runner of `config.backend`; its `.backend` is the one that runs (auto's choice). An artifact built
    into the cache records `checkpoint_sha256`. `measure=False` (a short clip): auto takes what it measured
    before, else eager, without measuring now."""
    if config.backend is Backend.AUTO:
        run = _auto(frontend, device, config, checkpoint_sha256, measure=measure)
    else:
        run = BACKENDS[config.backend](frontend, device, config, checkpoint_sha256)
    return ExactFp32(run, getattr(run, "backend", config.backend))


@contextlib.contextmanager
def no_tf32():
    """fp32 products as the reference computes them. cuDNN allows TF32 by default, and the patch
    embedding is a convolution: its TF32 q, k differ from the CPU's by ~1e-3 relative, enough to change
    labels (the leader merge is chaotic at tau). cuBLAS TF32 is off by default, unless a caller's
    torch.set_float32_matmul_precision turned it on. Both are process-wide flags: restored on exit."""
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = cudnn, matmul


class ExactFp32:
    """A runner whose calls run under no_tf32 (a no-op for runtimes outside torch and on a CPU)."""

    def __init__(self, run: Runner, backend: Backend = Backend.EAGER):
        self.run, self.backend = run, backend
        if hasattr(run, "queries"):  # q alone (the eager front-end); exported ones compute both

            def queries(images: torch.Tensor) -> torch.Tensor:
                with no_tf32():
                    return run.queries(images)
            self.queries = queries

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with no_tf32():
            return self.run(images)
