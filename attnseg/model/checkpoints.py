"""Checkpoint loading for every format of SPEC 8, without executing pickled code.

Formats, detected from the file's contents:
- "dino":        official DINO plain state dict (dino_deitsmall8_pretrain.pth, ...)
- "dino-full":   DINO training checkpoint {student, teacher, optimizer, epoch, args};
                 the teacher is used, "module."/"backbone." prefixes stripped, "head." dropped
- "paper":       {iteration, model_state_dict, optimizer_state_dict, loss} with
                 "encoder." (DINO keys) and "temporal_transformer.0." (ST block) keys
- "safetensors": a .safetensors file holding either key layout above

Pickles are read with `weights_only=True`; the DINO full checkpoint pickles an
argparse.Namespace, the only extra global allowed. Before a PyTorch zip checkpoint is read, the sizes its
records declare are checked against what these formats can hold (RECORD_LIMIT each, and no more in all than
the file could hold stored): a record that declares gigabytes, compressed into a small file, is refused
before any memory is taken for it. Every tensor is checked
against the expected names and shapes, and a bad checkpoint is refused with
ONE message counting the missing, unexpected and mis-shaped tensors (the first few of each named).
"""
from __future__ import annotations

import argparse
import hashlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, short_list
from ..settings import VIT_PRESETS, STConfig, ViTConfig

ENCODER_PREFIX = "encoder."
ST_PREFIX = "temporal_transformer.0."


@dataclass
class Weights:
    """Tensors read from one checkpoint file, split by role."""

    backbone: dict[str, torch.Tensor]
    st: dict[str, torch.Tensor] | None
    format: str
    path: str
    sha256: str


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# The largest record a checkpoint of these formats holds: DINO's training checkpoints keep the projection head,
# whose last layer (65536 x 256, and its optimizer moments) is the largest tensor, 64 MiB in fp32; fp64 doubled
RECORD_LIMIT = 256 * 2**20
COMPRESSION_LIMIT = 4  # torch stores records uncompressed; a re-zipped file of weights deflates far less than this


def check_declared_sizes(path: Path) -> None:
    """Refuse a zip checkpoint whose records declare more than these formats hold (before torch reads any)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip (a legacy pickle), or a broken one: torch's reading says so
    size = path.stat().st_size
    large = max(records, key=lambda r: r.file_size, default=None)
    if large is not None and large.file_size > RECORD_LIMIT:
        raise CheckpointError(f"{path}: its record {large.filename} declares {large.file_size / 2**20:.0f} MiB, more "
                              f"than any tensor of a supported checkpoint ({RECORD_LIMIT // 2**20} MiB): not read")
    total = sum(r.file_size for r in records)
    if total > COMPRESSION_LIMIT * size + 2**20:
        raise CheckpointError(f"{path}: its records declare {total / 2**20:.0f} MiB in a file of "
                              f"{size / 2**20:.1f} MiB (compressed beyond any weights): not read")


def _torch_load(path: Path) -> object:
    check_declared_sizes(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # maybe a DINO full checkpoint: retry with its one extra global allowed
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as e:  # KeyError: a stray legacy-pickle header
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, KeyError, ValueError) as e:
        # torch's own text advises weights_only=False; never relay that, name the refused global instead
        refused = re.search(r"unsupported global:? (?:GLOBAL )?([\w.]+)", str(e), re.IGNORECASE)
        if refused:
            raise CheckpointError(f"{path}: refused to unpickle {refused.group(1)} (weights-only loading; only "
                                  f"tensors and argparse.Namespace are allowed)") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt or not a checkpoint)") from None


def _read(path: Path) -> tuple[dict, str]:
    """Return (flat state dict, format name)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), "safetensors"
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    if "model_state_dict" in obj:
        return obj["model_state_dict"], "paper"
    if "teacher" in obj:
        teacher = obj["teacher"]
        sd = {}
        for key, value in teacher.items():
            for prefix in ("module.", "backbone."):
                key = key.removeprefix(prefix)
            if not key.startswith("head."):
                sd[key] = value
        return sd, "dino-full"
    return obj, "dino"


def _split(sd: dict) -> tuple[dict, dict | None]:
    """Split a flat state dict into (backbone, st or None) by key prefix."""
    if any(k.startswith(ENCODER_PREFIX) or k.startswith(ST_PREFIX) for k in sd):
        backbone = {k[len(ENCODER_PREFIX):]: v for k, v in sd.items() if k.startswith(ENCODER_PREFIX)}
        st = {k[len(ST_PREFIX):]: v for k, v in sd.items() if k.startswith(ST_PREFIX)}
        others = sorted(k for k in sd if not k.startswith((ENCODER_PREFIX, ST_PREFIX)))
        if others:
            backbone.update({k: sd[k] for k in others})  # reported as unexpected by validation
        return backbone, st or None
    return dict(sd), None


def read_checkpoint(path: str | Path) -> Weights:
    """Read any supported checkpoint file (no validation against an arch yet)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (the paper's checkpoints come from the authors' "
                              f"release: the README's Weights section says where; random weights run without one)")
    sd, fmt = _read(path)
    bad = sorted(k for k, v in sd.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise CheckpointError(f"{path} is not a checkpoint format attnseg reads: it holds entries that are not "
                              f"tensors ({', '.join(bad[:10])}); the formats it reads: docs/checkpoints.md")
    backbone, st = _split(sd)
    return Weights(backbone, st, fmt, str(path), file_sha256(path))


def expected_backbone_shapes(cfg: ViTConfig) -> dict[str, tuple[int, ...]]:
    d, hidden, p, g = cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim, cfg.patch_size, cfg.pretrained_grid
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1 + g * g, d),
        "patch_embed.proj.weight": (d, 3, p, p),
        "patch_embed.proj.bias": (d,),
    }
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        shapes.update({
            b + "norm1.weight": (d,), b + "norm1.bias": (d,),
            b + "attn.qkv.weight": (3 * d, d), b + "attn.qkv.bias": (3 * d,),
            b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,),
            b + "norm2.weight": (d,), b + "norm2.bias": (d,),
            b + "mlp.fc1.weight": (hidden, d), b + "mlp.fc1.bias": (hidden,),
            b + "mlp.fc2.weight": (d, hidden), b + "mlp.fc2.bias": (d,),
        })
    shapes.update({"norm.weight": (d,), "norm.bias": (d,)})
    return shapes


def expected_st_shapes(cfg: STConfig = STConfig()) -> dict[str, tuple[int, ...]]:
    d, hidden = cfg.dim, cfg.mlp_ratio * cfg.dim
    return {
        "norm1.weight": (d,), "norm1.bias": (d,),
        "attn.qkv.weight": (3 * d, d),
        "attn.proj.weight": (d, d), "attn.proj.bias": (d,),
        "norm2.weight": (d,), "norm2.bias": (d,),
        "mlp.fc1.weight": (hidden, d), "mlp.fc1.bias": (hidden,),
        "mlp.fc2.weight": (d, hidden), "mlp.fc2.bias": (d,),
    }


def guess_arch(backbone: dict[str, torch.Tensor]) -> str | None:
    """The preset whose shapes these tensors have, or None."""
    w = backbone.get("patch_embed.proj.weight")
    if w is None or w.ndim != 4:
        return None
    for name, cfg in VIT_PRESETS.items():
        if tuple(w.shape) == (cfg.embed_dim, 3, cfg.patch_size, cfg.patch_size):
            return name
    return None


def check_shapes(tensors: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Raise one CheckpointError counting the missing, unexpected and mis-shaped tensors, naming the first few of
    each."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshaped = sorted(
        f"{k} {tuple(tensors[k].shape)} (expected {expected[k]})"
        for k in set(expected) & set(tensors)
        if tuple(tensors[k].shape) != expected[k]
    )
    if not (missing or unexpected or misshaped):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped)):
        if items:
            parts.append(f"{label} ({len(items)}): {short_list(items, 3)}")
    raise CheckpointError(f"{what} does not match: " + "; ".join(parts))


def validate(weights: Weights, cfg: ViTConfig) -> None:
    """Check the backbone (and the ST block, when present) against `cfg`."""
    guessed = guess_arch(weights.backbone)
    hint = f" (its tensors look like {guessed}; build it as arch {guessed})" if guessed and guessed != cfg.name else ""
    check_shapes(weights.backbone, expected_backbone_shapes(cfg), f"{weights.path}: backbone for {cfg.name}{hint}")
    if weights.st is not None:
        check_shapes(weights.st, expected_st_shapes(STConfig(dim=cfg.embed_dim)), f"{weights.path}: ST block")


def st_state_dict(st: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ST tensors inference uses, keyed for `STBlock`: norm1 and the q/k rows of qkv."""
    dim = st["norm1.weight"].shape[0]
    return {
        "norm1.weight": st["norm1.weight"],
        "norm1.bias": st["norm1.bias"],
        "qk.weight": st["attn.qkv.weight"][: 2 * dim],
    }
