"""Build functions: config -> model -> weights -> device -> eval.

`build_frontend` is the one place that decides where the weights come from:
a checkpoint file (any format of SPEC 8), DINO backbone weights (DINO-only
mode), the download cache, or random initialization (smoke runs, benchmarks).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import SettingError
from ..settings import PAPER, STConfig, vit_config
from ..states import WeightsSource
from .checkpoints import Weights, read_checkpoint, st_state_dict, validate
from .frontend import FrontEnd
from .st_block import STBlock
from .vit import DinoViT
from .weights import dino_weights as cached_dino_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsInfo:
    """Where the front-end's weights came from, for outputs and artifacts' metadata."""

    source: WeightsSource
    path: str | None = None
    format: str | None = None
    sha256: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "source", WeightsSource.parse(self.source, "weights source"))

    @property
    def is_random(self) -> bool:
        return self.source is WeightsSource.RANDOM


def init_random_(module: nn.Module, generator: torch.Generator) -> None:
    """DINO-style init: truncated normal (std 0.02) for weights, zero bias, unit LayerNorm."""
    for name, p in module.named_parameters():
        if name.endswith("bias"):
            nn.init.zeros_(p)
        elif ".norm" in f".{name}" and name.endswith("weight"):
            nn.init.ones_(p)
        else:
            nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04, generator=generator)


def random_frontend(arch: str, *, seed: int = 0, qk_gain: float = 1.0, st: bool = True) -> FrontEnd:
    """A front-end with deterministic random weights; `qk_gain` scales the ST q/k projection."""
    cfg = vit_config(arch)
    g = torch.Generator().manual_seed(seed)
    backbone = DinoViT(cfg)
    init_random_(backbone, g)
    block = None
    if st:
        block = STBlock(STConfig(dim=cfg.embed_dim))
        init_random_(block, g)
        with torch.no_grad():
            block.qk.weight.mul_(qk_gain)
    return FrontEnd(backbone, block)


def frontend_from_weights(arch: str, weights: Weights, *, use_st: bool = True) -> FrontEnd:
    cfg = vit_config(arch)
    validate(weights, cfg)
    backbone = DinoViT(cfg)
    backbone.load_state_dict(weights.backbone, strict=True)
    block = None
    if use_st and weights.st is not None:
        block = STBlock(STConfig(dim=cfg.embed_dim))
        block.load_state_dict(st_state_dict(weights.st), strict=True)
    return FrontEnd(backbone, block)


def build_frontend(
    arch: str = PAPER.arch,
    *,
    checkpoint: str | None = None,
    dino_weights: str | None = None,
    random_weights: bool = False,
    seed: int = 0,
    qk_gain: float = 1.0,
    device: str | torch.device = "cpu",
) -> tuple[FrontEnd, WeightsInfo]:
    """The front-end in eval mode on `device`, and where its weights came from.

    At most one of `checkpoint`, `dino_weights`, `random_weights`; with none,
    the official DINO weights are taken from the cache (downloaded if needed)
    and the engine runs DINO-only.
    """
    given = [n for n, v in (("checkpoint", checkpoint), ("dino_weights", dino_weights),
                            ("random_weights", random_weights)) if v]
    if len(given) > 1:
        raise SettingError(f"choose one weight source, got {', '.join(given)}")
    if random_weights:
        model, info = random_frontend(arch, seed=seed, qk_gain=qk_gain), WeightsInfo(WeightsSource.RANDOM)
    else:
        if checkpoint:
            source, path = WeightsSource.CHECKPOINT, checkpoint
        elif dino_weights:
            source, path = WeightsSource.DINO_WEIGHTS, dino_weights
        else:
            source, path = WeightsSource.DINO_CACHE, str(cached_dino_weights(arch))
        weights = read_checkpoint(path)
        if source is not WeightsSource.CHECKPOINT and weights.st is not None:
            log.info("%s: using its backbone only (DINO-only mode); pass it as checkpoint to use its ST block", path)
        model = frontend_from_weights(arch, weights, use_st=source is WeightsSource.CHECKPOINT)
        info = WeightsInfo(source, weights.path, weights.format, weights.sha256)
    return model.to(device).eval().requires_grad_(False), info
