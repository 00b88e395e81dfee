"""AOTInductor: the static front-end compiled ahead of time into a .pt2 package, and its runner.

torch.export traces StaticFrontEnd with a dynamic batch; Inductor generates
and compiles C++ (CPU) or Triton/CUDA (GPU) code into a shared library inside
the package; `aoti_load_package` runs it without Python tracing or compile
at start-up. A package runs only on the device type it was compiled for
(recorded in the metadata and checked on load). bf16 runs the front-end
under autocast (LayerNorm and softmax stay fp32).
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import torch

from ..errors import DeviceError, ExportError
from ..files import publish
from .metadata import ArtifactMeta
from .static import StaticFrontEnd


def available() -> str | None:
    if not hasattr(torch._inductor, "aoti_compile_and_package"):
        return f"torch {torch.__version__} has no AOTInductor packaging (torch >= 2.6 does)"
    if not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        return "AOTInductor needs a C++ compiler (g++ or clang++) on PATH"
    return None


def toolkit_missing(device: torch.device) -> str | None:
    """On CUDA, AOTInductor compiles its generated C++ against the CUDA toolkit's headers and libraries
    (found through CUDA_HOME or nvcc on PATH): a C++ compiler alone is not enough."""
    if device.type != "cuda":
        return None
    from torch.utils import cpp_extension

    if cpp_extension.CUDA_HOME is None:
        return ("AOTInductor on CUDA needs the CUDA toolkit (nvcc and its headers) and none was found: set "
                "CUDA_HOME to it (e.g. /usr/local/cuda), or use the compiled backend")
    return None


def export_aoti(module: StaticFrontEnd, meta: ArtifactMeta, dest: Path) -> ArtifactMeta:
    """Compile `module` for its device into the package dest (written atomically)."""
    device = module.pos_embed.device
    reason = toolkit_missing(device)
    if reason:
        raise DeviceError(reason)
    batch = torch.export.Dim("batch", min=1, max=meta.max_batch)
    with torch.no_grad():
        program = torch.export.export(module, (module.example(2),), dynamic_shapes=({0: batch},))
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        built = torch._inductor.aoti_compile_and_package(program, package_path=str(Path(tmp) / "frontend.pt2"))
        publish(Path(built), dest)
    return dataclasses.replace(meta, extra={**meta.extra, "device": device.type})


class AotiRunner:
    def __init__(self, path: Path, meta: ArtifactMeta, device: torch.device):
        built = meta.extra.get("device")
        if built != device.type:
            raise DeviceError(f"{path} was compiled for {built}, not {device.type}; export it on this device "
                             f"(an aoti export on {device.type})")
        try:
            self.model = torch._inductor.aoti_load_package(str(path))
        except Exception as err:  # the loader raises RuntimeError or zipfile errors for a bad package
            raise ExportError(f"{path}: not a loadable AOTInductor package ({str(err).splitlines()[0]})") from None
        self.device = device

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, k = self.model(images.to(self.device, torch.float32).contiguous())
        return q, k


def load_aoti(path: Path, meta: ArtifactMeta, device: torch.device, threads: int | None = None) -> AotiRunner:
    return AotiRunner(path, meta, device)
