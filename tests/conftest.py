"""Shared fixtures: random checkpoints in the real formats, small clips, the shared DAVIS data."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():  # Triton kernels run on this CPU through the interpreter (set before import)
    os.environ.setdefault("TRITON_INTERPRET", "1")

from attnseg.model.build import init_random_  # noqa: E402
from attnseg.model.checkpoints import expected_st_shapes  # noqa: E402
from attnseg.settings import vit_config  # noqa: E402
from attnseg.model.vit import DinoViT  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DAVIS = SHARED / "data" / "davis16"


def davis_frames(name: str) -> Path:
    path = DAVIS / "JPEGImages" / "480p" / name
    if not path.is_dir():
        pytest.skip(f"shared DAVIS data not present ({path})")
    return path


def random_dino_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    model = DinoViT(vit_config(arch))
    init_random_(model, torch.Generator().manual_seed(seed))
    return {k: v.clone() for k, v in model.state_dict().items()}


def random_st_state_dict(dim: int = 384, seed: int = 1, qk_gain: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(shape, generator=g) * 0.02 for k, shape in expected_st_shapes().items()}
    sd["norm1.weight"] = torch.ones(dim)
    sd["norm1.bias"] = torch.zeros(dim)
    sd["attn.qkv.weight"][: 2 * dim] *= qk_gain
    return sd


def paper_checkpoint(backbone: dict, st: dict) -> dict:
    sd = {f"encoder.{k}": v for k, v in backbone.items()}
    sd.update({f"temporal_transformer.0.{k}": v for k, v in st.items()})
    return {"iteration": 1000, "model_state_dict": sd, "optimizer_state_dict": {}, "loss": 0.5}


def dino_full_checkpoint(backbone: dict) -> dict:
    head = {"head.mlp.0.weight": torch.zeros(8, 4), "head.last_layer.weight_g": torch.ones(8, 1)}
    return {
        "student": {**{f"module.backbone.{k}": v + 1 for k, v in backbone.items()},
                    **{f"module.{k}": v for k, v in head.items()}},
        "teacher": {**{f"backbone.{k}": v for k, v in backbone.items()}, **head},
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_small", patch_size=8, lr=0.0005, use_fp16=False),
    }


@pytest.fixture(scope="session")
def small_sd() -> dict[str, torch.Tensor]:
    return random_dino_state_dict("vit_small_16")


@pytest.fixture(scope="session")
def s8_sd() -> dict[str, torch.Tensor]:
    return random_dino_state_dict("vit_small_8")


@pytest.fixture(scope="session")
def paper_ckpt(tmp_path_factory, s8_sd) -> Path:
    """A random checkpoint in the paper's format, ST q/k scaled up so clusters are many."""
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint_dino-s-8.pth"
    torch.save(paper_checkpoint(s8_sd, random_st_state_dict(qk_gain=40.0)), path)
    return path


@pytest.fixture(scope="session")
def synthetic_folder(tmp_path_factory) -> Path:
    from PIL import Image

    from attnseg.engine.synthetic import synthetic_clip

    folder = tmp_path_factory.mktemp("clip")
    frames, _ = synthetic_clip(7, 60, 80)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i:03d}.png")
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def davis_small_qk():
    """q, k of 10 real DAVIS frames (blackswan) at 48x80 through a random front-end: f(qk_gain), on the
    device the kernel tests use."""
    from attnseg.engine import SegmentSettings, Segmenter
    from attnseg.engine.frames import read_clip
    from attnseg.engine.timing import StageTimer

    full = read_clip(davis_frames("blackswan"))
    frames = full.frames[:10]

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the kernel tests run

    def encode(qk_gain: float):
        seg = Segmenter.from_checkpoint(random_weights=True, config=SegmentSettings(resolution=(48, 80), kernels="torch"),
                                        qk_gain=qk_gain, device=device)
        return seg.encode(frames, StageTimer())

    return encode


def tiny_frontend(seed: int = 0, st: bool = True):
    """A 2-block ViT-S/16 front-end with the paper's ST block: quick to export and compile."""
    from attnseg.model import FrontEnd
    from attnseg.settings import STConfig, ViTConfig
    from attnseg.model.st_block import STBlock

    backbone = DinoViT(ViTConfig("tiny_s16", patch_size=16, embed_dim=384, depth=2, num_heads=6, pretrained_grid=14))
    frontend = FrontEnd(backbone, STBlock(STConfig()) if st else None)
    init_random_(frontend, torch.Generator().manual_seed(seed))
    return frontend.eval().requires_grad_(False)


@pytest.fixture
def artifact_cache(tmp_path, monkeypatch) -> Path:
    """An empty attnseg cache (artifacts built by the exported backends go there)."""
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
