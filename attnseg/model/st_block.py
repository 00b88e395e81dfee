"""The paper's spatio-temporal (ST) block, as far as inference runs it (SPEC 4).

The trained block is a full transformer block; at inference only its first
LayerNorm and the q/k rows of its bias-free qkv projection are used. The
checkpoint's remaining tensors (v rows, attn.proj, norm2, mlp) are checked for
shape on load (see checkpoints.py) and then dropped.
"""
from __future__ import annotations

import torch
from torch import nn

from ..settings import STConfig


class STBlock(nn.Module):
    def __init__(self, cfg: STConfig = STConfig()):
        super().__init__()
        self.cfg = cfg
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.qk = nn.Linear(cfg.dim, 2 * cfg.dim, bias=False)  # rows 0..D-1: q, D..2D-1: k

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, D) backbone keys -> q, k each (B, heads, N, head_dim)."""
        b, n, d = feats.shape
        qk = self.qk(self.norm1(feats)).reshape(b, n, 2, self.cfg.num_heads, self.cfg.head_dim)
        q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k
