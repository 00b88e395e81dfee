"""The suite's default load: a random checkpoint in the paper's format, sharpened, on DAVIS frames.

Random weights at ST q/k gain 1 give one cluster, so a clustering column timed on them measures almost
nothing. The default load scales the ST q/k rows by QK_GAIN (hundreds of clusters at the suite's
default 160x256 on DAVIS blackswan; see BENCH_LOAD) and writes the checkpoint in the paper's format, so
the real reader loads it as it loads a user's checkpoint_dino-s-8.pth. The frames are a DAVIS clip
when one is found ($ATTNSEG_DAVIS, or ../shared/data/davis16 beside the checkout), else the synthetic
DAVIS-sized clip (then say so: it clusters differently).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

QK_GAIN = 5.5  # 268 clusters on BENCH_LOAD (4.5: 1 cluster; 5.0: 2; 6.0: ~2000)
BENCH_LOAD = "vit_small_8 160x256, DAVIS blackswan 30 frames"  # where QK_GAIN gives hundreds of clusters
DAVIS_CLIP = "blackswan"


def paper_checkpoint(folder: str | Path, arch: str, qk_gain: float = QK_GAIN, seed: int = 0) -> Path:
    """A random checkpoint in the paper's format (SPEC 8: encoder.* and temporal_transformer.0.*, the ST
    block's qkv holding q/k scaled by `qk_gain`), written once under `folder`."""
    from ..model.build import random_frontend

    path = Path(folder) / f"paper_{arch}_qk{qk_gain:g}_seed{seed}.pth"
    if path.is_file():
        return path
    frontend = random_frontend(arch, seed=seed, qk_gain=qk_gain)
    dim = frontend.backbone.cfg.embed_dim
    g = torch.Generator().manual_seed(seed + 1)
    st = {"norm1.weight": frontend.st.norm1.weight, "norm1.bias": frontend.st.norm1.bias,
          "attn.qkv.weight": torch.cat([frontend.st.qk.weight, torch.randn(dim, dim, generator=g) * 0.02]),
          "attn.proj.weight": torch.randn(dim, dim, generator=g) * 0.02, "attn.proj.bias": torch.zeros(dim),
          "norm2.weight": torch.ones(dim), "norm2.bias": torch.zeros(dim),
          "mlp.fc1.weight": torch.randn(4 * dim, dim, generator=g) * 0.02, "mlp.fc1.bias": torch.zeros(4 * dim),
          "mlp.fc2.weight": torch.randn(dim, 4 * dim, generator=g) * 0.02, "mlp.fc2.bias": torch.zeros(dim)}
    state = {**{f"encoder.{k}": v for k, v in frontend.backbone.state_dict().items()},
             **{f"temporal_transformer.0.{k}": v.detach().clone() for k, v in st.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"iteration": 0, "model_state_dict": state, "optimizer_state_dict": {}, "loss": 0.0}, tmp)
    tmp.replace(path)
    return path


def davis_clip(name: str = DAVIS_CLIP) -> Path | None:
    """A DAVIS-2016 clip's frame folder: under $ATTNSEG_DAVIS, or ../shared/data/davis16 from the working
    directory; None when neither holds it."""
    roots = [Path(os.environ["ATTNSEG_DAVIS"])] if os.environ.get("ATTNSEG_DAVIS") else []
    roots.append(Path.cwd().parent / "shared" / "data" / "davis16")
    for root in roots:
        folder = root / "JPEGImages" / "480p" / name
        if folder.is_dir():
            return folder
    return None
