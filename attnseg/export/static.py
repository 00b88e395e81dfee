"""The front-end as it is exported: one resolution, positional embedding baked in.

DINO interpolates its positional embedding for every input size (SPEC 3:
bicubic, driven by a scale factor). An exported graph serves one resolution,
so the interpolation runs once here, in PyTorch, and the result is a constant
of the graph: no Resize op whose cubic semantics each runtime would have to
reproduce. The batch of frames stays dynamic.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..model import FrontEnd
from ..model.vit import interpolate_pos_embed

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class StaticFrontEnd(nn.Module):
    """images (B, 3, H, W) float32 -> q, k (B, heads, h*w, head_dim) float32, at one (H, W).

    precision "bf16"/"fp16" runs the front-end under autocast (matrix products
    in low precision, LayerNorm and softmax in float32, as autocast keeps
    them); the outputs are float32 either way.
    """

    def __init__(self, frontend: FrontEnd, resolution: tuple[int, int], precision: str = "fp32"):
        super().__init__()
        self.frontend = frontend
        self.resolution = tuple(resolution)
        self.precision = precision
        gh, gw = frontend.backbone.grid(*self.resolution)
        pos = interpolate_pos_embed(frontend.backbone.pos_embed.detach(), gh, gw)
        self.register_buffer("pos_embed", pos.clone(), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.precision == "fp32":
            cast = contextlib.nullcontext()
        else:
            cast = torch.autocast(images.device.type, dtype=DTYPES[self.precision])
        with cast:
            q, k = self.frontend(images, pos_embed=self.pos_embed)
        return q.float(), k.float()

    def example(self, batch: int = 2) -> torch.Tensor:
        """A normalized-looking input batch on the module's device, for tracing and checks."""
        device = self.pos_embed.device
        g = torch.Generator().manual_seed(0)
        return torch.randn(batch, 3, *self.resolution, generator=g).to(device)
