"""The paper's spatio-temporal (ST) block, as far as inference runs it (SPEC 4).

The trained block is a full transformer block; at inference only its first
LayerNorm and the q/k rows of its bias-free qkv projection are used. The
checkpoint's remaining tensors (v rows, attn.proj, norm2, mlp) are checked for
shape on load (see checkpoints.py) and then dropped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
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

    def query(self, feats: torch.Tensor) -> torch.Tensor:
        """forward's q alone, from the q rows of the projection (the same numbers: tests/model/test_vit.py):
        a frame that will not be a key frame needs no k."""
        b, n, d = feats.shape
        q = F.linear(self.norm1(feats), self.qk.weight[:d]).reshape(b, n, self.cfg.num_heads, self.cfg.head_dim)
        return q.permute(0, 2, 1, 3)
