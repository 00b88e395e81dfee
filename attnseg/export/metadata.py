"""What an exported front-end was built for, and the check that refuses a mismatch.

Every artifact carries an ArtifactMeta: ONNX embeds it in the model's
metadata_props (key "attnseg"); TensorRT plans and AOTInductor packages keep
it in a `<artifact>.meta.json` beside them. Loading an artifact for a run
compares its identity (arch, mode, resolution, normalization, weights digest)
with the run's; any difference ends in one ValueError naming every field,
never in wrong masks.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from .._version import __version__
from ..errors import ExportError
from ..model import FrontEnd

META_KEY = "attnseg"
IDENTITY = ("arch", "mode", "resolution", "normalization", "weights_digest")


@dataclass(frozen=True)
class ArtifactMeta:
    format: str  # a name of attnseg.export.FORMATS
    arch: str  # ViT preset, e.g. vit_small_8
    mode: str  # "st" or "dino-only"
    resolution: tuple[int, int]  # (H, W) the positional embedding is baked for
    normalization: str  # the preprocessing the inputs must have had
    weights_digest: str  # sha256 over the front-end's tensors (weights_digest())
    precision: str  # fp32 | fp16 | bf16
    max_batch: int  # frames per call the artifact accepts (larger batches are split)
    heads: int
    head_dim: int
    checkpoint_sha256: str | None = None  # of the checkpoint file, when there was one
    attnseg_version: str = __version__
    torch_version: str = torch.__version__
    extra: dict = field(default_factory=dict)  # format specifics: opset, TensorRT version, GPU, ...

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> "ArtifactMeta":
        try:
            data = {k: v for k, v in json.loads(text).items() if k in {f.name for f in fields(cls)}}
            return cls(**{**data, "resolution": tuple(data["resolution"])})
        except (ValueError, TypeError, KeyError) as err:
            raise ExportError(f"{where}: unreadable attnseg metadata ({err!r}); export it again") \
                from None

    def identity(self) -> dict:
        return {k: getattr(self, k) for k in IDENTITY}


def weights_digest(frontend: FrontEnd) -> str:
    """sha256 over the names, shapes and bytes of every front-end tensor (any checkpoint format alike)."""
    h = hashlib.sha256()
    for name, tensor in sorted(frontend.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def identity_of(frontend: FrontEnd, resolution: tuple[int, int], normalization: str) -> dict:
    """The identity a run needs an artifact to have."""
    return {"arch": frontend.backbone.cfg.name, "mode": frontend.mode, "resolution": tuple(resolution),
            "normalization": normalization, "weights_digest": weights_digest(frontend)}


def check_identity(meta: ArtifactMeta, expected: dict, path: str | Path) -> None:
    """Raise one ValueError listing every identity field where `meta` differs from `expected`."""
    wrong = [f"{k} {_show(k, getattr(meta, k))} (this run: {_show(k, v)})"
             for k, v in expected.items() if getattr(meta, k) != v]
    if wrong:
        raise ExportError(f"{path} was exported for another front-end: {'; '.join(wrong)}. "
                         f"Export one for this run, or let the backend build it into the cache")


def _show(key: str, value) -> str:
    if key == "resolution":
        return f"{value[0]}x{value[1]}"
    if key == "weights_digest":
        return f"weights {value[:12]}"
    return str(value)


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")
