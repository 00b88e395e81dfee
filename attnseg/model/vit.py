"""DINO Vision Transformer, plain PyTorch, stopping at the last block's keys.

Parameter names follow the official DINO release exactly (SPEC 8) so its
state dicts load strictly. Every block is built in full, but the forward pass
stops after the LAST block's key projection (SPEC 3): its attention, MLP and
the final norm are never computed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SettingError
from ..settings import ViTConfig


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, gh*gw, D), raster order


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, D) -> q, k, v each (B, heads, N, head_dim)."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split_qkv(x)
        out = F.scaled_dot_product_attention(q, k, v)  # scale = head_dim ** -0.5
        return self.proj(out.transpose(1, 2).flatten(2))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.attn = Attention(cfg.embed_dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def query_key(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This block's own q and k of its input, each (B, heads, N, head_dim)."""
        q, k, _ = self.attn.split_qkv(self.norm1(x))
        return q, k

    def key(self, x: torch.Tensor) -> torch.Tensor:
        """This block's own k of its input, (B, N, D) heads concatenated: the k rows of qkv alone (the same
        numbers as query_key's k: tests/model/test_vit.py)."""
        d = x.shape[-1]
        return F.linear(self.norm1(x), self.attn.qkv.weight[d:2 * d], self.attn.qkv.bias[d:2 * d])


def interpolate_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Resize a (1, 1 + g0*g0, D) positional embedding for a (grid_h, grid_w) patch grid.

    Exactly as DINO does it (SPEC 3): bicubic, align_corners=False, no antialias,
    driven by a SCALE FACTOR ((gh + 0.1) / g0, (gw + 0.1) / g0) rather than a
    target size; the two give different numbers. Returned unchanged when the
    grid already matches and is square.
    """
    g0 = int(round((pos_embed.shape[1] - 1) ** 0.5))
    if grid_h == grid_w == g0:
        return pos_embed
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    grid = patch_pos.reshape(1, g0, g0, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid,
        scale_factor=((grid_h + 0.1) / g0, (grid_w + 0.1) / g0),
        mode="bicubic",
        align_corners=False,
    )
    if grid.shape[-2:] != (grid_h, grid_w):  # would mean the +0.1 guard failed
        raise RuntimeError(f"pos-embed interpolation gave {tuple(grid.shape[-2:])}, wanted {(grid_h, grid_w)}")
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
    return torch.cat([cls_pos, patch_pos], dim=1)


class DinoViT(nn.Module):
    """DINO ViT backbone. `forward(images)` returns the last block's keys."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.pretrained_grid**2, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=cfg.ln_eps)  # in the checkpoint, never run (SPEC 3)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        p = self.cfg.patch_size
        if height % p or width % p:
            raise SettingError(f"resolution {height}x{width} is not a multiple of the patch size {p}")
        return height // p, width // p

    def tokens(self, images: torch.Tensor, pos_embed: torch.Tensor | None = None) -> torch.Tensor:
        """Patch embedding + CLS + positional embedding: (B, 1 + gh*gw, D).

        `pos_embed`: the embedding already interpolated for this grid (exported
        forms bake it for their one resolution); by default it is interpolated here.
        """
        gh, gw = self.grid(*images.shape[-2:])
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + (interpolate_pos_embed(self.pos_embed, gh, gw) if pos_embed is None else pos_embed)

    def last_block_input(self, images: torch.Tensor, pos_embed: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tokens(images, pos_embed)
        for blk in self.blocks[:-1]:
            x = blk(x)
        return x

    def forward(self, images: torch.Tensor, pos_embed: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) normalized images -> (B, gh*gw, D) keys, heads concatenated, CLS dropped. The last
        block's q, v, attention and MLP are never computed: nothing reads them (SPEC 3)."""
        return self.blocks[-1].key(self.last_block_input(images, pos_embed))[:, 1:]

    def last_query_key(self, images: torch.Tensor,
                       pos_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The last block's own q, k without CLS, each (B, heads, gh*gw, head_dim) (DINO-only mode)."""
        q, k = self.blocks[-1].query_key(self.last_block_input(images, pos_embed))
        return q[:, :, 1:], k[:, :, 1:]
