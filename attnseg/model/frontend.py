"""The front-end: frames -> per-frame attention queries and keys.

Two modes (both reference PyTorch):
- "st": DINO backbone keys -> ST block -> q, k (8 heads of 48), the paper's method.
- "dino-only": no ST checkpoint; q, k of the last DINO block itself (6 heads of 64
  for ViT-S), an honest fallback that is NOT the paper's method.
"""
from __future__ import annotations

import torch
from torch import nn

from ..states import FrontEndMode
from .st_block import STBlock
from .vit import DinoViT


class FrontEnd(nn.Module):
    def __init__(self, backbone: DinoViT, st: STBlock | None = None):
        super().__init__()
        self.backbone = backbone
        self.st = st

    @property
    def mode(self) -> FrontEndMode:
        return FrontEndMode.ST if self.st is not None else FrontEndMode.DINO_ONLY

    @property
    def num_heads(self) -> int:
        return self.st.cfg.num_heads if self.st is not None else self.backbone.cfg.num_heads

    @property
    def head_dim(self) -> int:
        return self.st.cfg.head_dim if self.st is not None else self.backbone.cfg.head_dim

    @property
    def scale(self) -> float:
        """Softmax temperature of the affinity: head_dim ** -0.5."""
        return self.head_dim ** -0.5

    def forward(self, images: torch.Tensor,
                pos_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) normalized -> q, k each (B, heads, h*w, head_dim).

        `pos_embed`: optional, already interpolated for this resolution (DinoViT.tokens).
        """
        if self.st is None:
            return self.backbone.last_query_key(images, pos_embed)
        return self.st(self.backbone(images, pos_embed))

    def queries(self, images: torch.Tensor, pos_embed: torch.Tensor | None = None) -> torch.Tensor:
        """forward's q alone, (B, heads, h*w, head_dim): frames whose k nothing reads (not key frames). In
        DINO-only mode the last block gives both at once."""
        if self.st is None:
            return self.backbone.last_query_key(images, pos_embed)[0]
        return self.st.query(self.backbone(images, pos_embed))
