"""The model's architectures (SPEC 3, 4): a DINO ViT's patch size, width, depth and heads by preset name, and the
spatio-temporal block's. They are facts of the checkpoints, not settings a user tunes: a setting names one
(`arch`, attnseg.settings), and the model is built from it. The ground floor: this file imports only the errors.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SettingError


@dataclass(frozen=True)
class ViTConfig:
    """A DINO ViT: patch size, width, depth, heads (SPEC 3)."""

    name: str
    patch_size: int
    embed_dim: int
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: int = 4
    pretrained_grid: int = 28  # side of the positional-embedding grid (224 / patch)
    ln_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


@dataclass(frozen=True)
class STConfig:
    """The spatio-temporal block: LayerNorm + q/k, 8 heads of 48 (SPEC 4)."""

    dim: int = 384
    num_heads: int = 8
    mlp_ratio: int = 4
    ln_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def scale(self) -> float:
        return self.head_dim ** -0.5


VIT_PRESETS: dict[str, ViTConfig] = {
    "vit_small_8": ViTConfig("vit_small_8", patch_size=8, embed_dim=384, num_heads=6, pretrained_grid=28),
    "vit_small_16": ViTConfig("vit_small_16", patch_size=16, embed_dim=384, num_heads=6, pretrained_grid=14),
    "vit_base_8": ViTConfig("vit_base_8", patch_size=8, embed_dim=768, num_heads=12, pretrained_grid=28),
    "vit_base_16": ViTConfig("vit_base_16", patch_size=16, embed_dim=768, num_heads=12, pretrained_grid=14),
}


def vit_config(name: str) -> ViTConfig:
    """The preset called `name`, or a SettingError naming the valid ones."""
    try:
        return VIT_PRESETS[name]
    except KeyError:
        raise SettingError(f"unknown arch {name!r}; valid: {', '.join(VIT_PRESETS)}") from None
