"""Front-end backends: how a batch of normalized images becomes q, k.

One table, BACKENDS: name -> builder(frontend, device, spec) -> a callable
images (B, 3, H, W) -> (q, k), each (B, heads, h*w, head_dim).

- auto: the fastest with exact labels on the device at hand. On a CPU with onnxruntime installed, the
  faster of eager and onnxruntime (labels equal: benchmarks/results/frontend_labels_cpu.json) on one
  batch of this run's size, measured once per machine and remembered (`faster`); without onnxruntime,
  or when the ONNX front-end cannot be built, eager, said in one log line. On CUDA eager, until the
  device suite has measured a faster exact one there (docs/gpu.md).
- eager (alias torch): the reference module (attnseg.model.FrontEnd) as it is.
- compiled: torch.compile of the same module; its first call per input shape
  compiles (tens of seconds on a small CPU), later calls reuse the graph.
- onnxruntime, tensorrt, aoti: an artifact of attnseg.export. With
  spec.engine it is loaded from that path (refused when it was built for
  another arch, mode, resolution, normalization or weights); without, it is
  exported once into the cache ($ATTNSEG_CACHE/engines) and reused.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .. import export
from ..errors import ExportError
from ..files import measured_once
from ..model import FrontEnd
from ..model.weights import cache_dir
from ..optional import importable, installed_version
from ..settings import Backend

log = logging.getLogger(__name__)
Runner = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class BackendSpec:
    """What a backend needs beyond the module: the run's input and, for exported forms, the artifact."""

    resolution: tuple[int, int]
    normalization: str = "kinetics"
    engine: str | None = None  # artifact path (exported backends); None: build it into the cache
    precision: str | None = None  # exported backends; None: the format's default
    threads: int | None = None  # onnxruntime intra-op threads; None: its default
    checkpoint_sha256: str | None = None  # recorded in artifacts built from the cache
    batch_size: int = 8  # frames per offline batch: the compiled backend pads shorter batches to it


def _eager(frontend: FrontEnd, device: torch.device, spec: BackendSpec) -> Runner:
    return frontend


def _compiled(frontend: FrontEnd, device: torch.device, spec: BackendSpec) -> Runner:
    return PaddedBatches(torch.compile(frontend, dynamic=False), spec.batch_size)


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


def _exported(format_name: str) -> Callable[[FrontEnd, torch.device, BackendSpec], Runner]:
    def build(frontend: FrontEnd, device: torch.device, spec: BackendSpec) -> Runner:
        expect = export.identity_of(frontend, spec.resolution, spec.normalization)
        path = Path(spec.engine) if spec.engine else _cached_artifact(format_name, expect, spec, device)
        if spec.engine and spec.precision:
            built = export.read_meta(path).precision
            if built != spec.precision:
                raise ExportError(f"{path} was built in {built}, not the {spec.precision} asked for")
        if not path.is_file() and not spec.engine:
            log.info("exporting the front-end as %s to %s (once; later runs reuse it)", format_name, path)
            export.export(frontend, format=format_name, resolution=spec.resolution, out=path,
                          normalization=spec.normalization, precision=spec.precision,
                          checkpoint_sha256=spec.checkpoint_sha256)
        return export.load(path, device=device, expect=expect, threads=spec.threads)
    return build


def _cached_artifact(format_name: str, identity: dict, spec: BackendSpec, device: torch.device) -> Path:
    fmt = export.format_of(format_name)
    h, w = spec.resolution
    name = (f"{identity['arch']}_{identity['mode']}_{h}x{w}_{spec.normalization}_{identity['weights_digest'][:16]}"
            f"_{spec.precision or fmt.precisions[0]}_{device.type}{fmt.suffix}")
    return cache_dir() / "engines" / name


def _auto(frontend: FrontEnd, device: torch.device, spec: BackendSpec) -> Runner:
    if device.type != "cpu":
        log.info("backend auto: eager (no faster exact front-end measured on %s yet)", device.type)
        return Named(_eager(frontend, device, spec), Backend.EAGER)
    missing = [m for m in ("onnxruntime", "onnx", "onnxscript") if not importable(m)]
    if missing:
        log.info("backend auto: eager (%s not installed; pip install 'attnseg[export]' for onnxruntime)",
                 ", ".join(missing))
        return Named(_eager(frontend, device, spec), Backend.EAGER)
    try:
        onnx = _exported("onnx")(frontend, device, spec)
    except (ExportError, OSError, RuntimeError, ValueError) as err:
        log.warning("backend auto: eager (the ONNX front-end could not be built: %s)", err)
        return Named(_eager(frontend, device, spec), Backend.EAGER)
    runners = {Backend.EAGER: _eager(frontend, device, spec), Backend.ONNXRUNTIME: onnx}
    choice = faster(runners, frontend, spec)
    return Named(runners[choice], choice)


def time_batch(run: Runner, spec: BackendSpec, repeats: int = 2) -> float:
    """Best seconds of one batch of `spec.batch_size` images through `run`, after a warm-up call."""
    images = torch.randn(spec.batch_size, 3, *spec.resolution, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            run(images)
            if i:
                best = min(best, time.perf_counter() - start)
    return best


def faster(runners: dict[Backend, Runner], frontend: FrontEnd, spec: BackendSpec,
           timer: Callable[[Runner, BackendSpec], float] | None = None) -> Backend:
    """The backend whose runner takes one batch fastest on this CPU, measured once per CPU, versions, model
    and input size and remembered in $ATTNSEG_CACHE/backend_auto.json (onnxruntime ran 1.7x the eager
    front-end on a 2-core AMD EPYC, but 0.9x on a 2-core Xeon with AMX: it is never assumed)."""
    import platform

    identity = export.identity_of(frontend, spec.resolution, spec.normalization)
    key = {"cpu": platform.processor() or platform.machine(), "capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(), "torch": torch.__version__,
           "onnxruntime": installed_version("onnxruntime"),
           "arch": identity["arch"], "mode": str(identity["mode"]), "resolution": list(spec.resolution),
           "batch": spec.batch_size}
    path = cache_dir() / "backend_auto.json"
    timer = timer or time_batch
    choice, seconds = measured_once(path, key, lambda: {b.value: timer(run, spec) for b, run in runners.items()},
                                    "backend auto")
    if seconds:
        log.info("backend auto: %s (a batch of %d at %dx%d: %s; remembered in %s)", choice, spec.batch_size,
                 *spec.resolution, ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in seconds.items()), path)
    return Backend(choice)


class Named:
    """A runner that says which backend it is (what `auto` chose)."""

    def __init__(self, run: Runner, backend: Backend):
        self.run, self.backend = run, backend

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run(images)


BACKENDS: dict[Backend, Callable[[FrontEnd, torch.device, BackendSpec], Runner]] = {
    Backend.AUTO: _auto, Backend.EAGER: _eager, Backend.COMPILED: _compiled,
    **{Backend(backend): _exported(fmt) for backend, fmt in export.exporter.FORMAT_OF_BACKEND.items()},
}


def load_backend(name: Backend | str, frontend: FrontEnd, device: torch.device, spec: BackendSpec) -> Runner:
    """The runner of backend `name`; its `.backend` is the one that runs (auto's choice)."""
    backend = Backend.parse(name, "backend")
    run = BACKENDS[backend](frontend, device, spec)
    return ExactFp32(run, getattr(run, "backend", backend))


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

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with no_tf32():
            return self.run(images)
