"""The reference backbone and ST block against straightforward formulations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnseg.model import STBlock, STConfig, random_frontend, vit_config
from attnseg.model.vit import DinoViT, interpolate_pos_embed


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _bicubic_1d(x: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Resize along axis 0 like PyTorch bicubic, align_corners=False, with a given scale factor."""
    out = np.zeros((out_len,) + x.shape[1:])
    for i in range(out_len):
        src = (i + 0.5) / scale - 0.5
        base = math.floor(src)
        for off, w in zip(range(-1, 3), _cubic_weights(src - base)):
            out[i] += w * x[min(max(base + off, 0), len(x) - 1)]
    return out


def test_pos_embed_interpolation_matches_hand_computed_bicubic():
    g0, dim, gh, gw = 4, 3, 6, 9
    pos = torch.randn(1, 1 + g0 * g0, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = interpolate_pos_embed(pos, gh, gw)
    grid = pos[0, 1:].reshape(g0, g0, dim).numpy()
    rows = _bicubic_1d(grid, gh, (gh + 0.1) / g0)
    want = _bicubic_1d(rows.transpose(1, 0, 2), gw, (gw + 0.1) / g0).transpose(1, 0, 2)
    assert got.shape == (1, 1 + gh * gw, dim)
    torch.testing.assert_close(got[0, 0], pos[0, 0])  # CLS untouched
    np.testing.assert_allclose(got[0, 1:].reshape(gh, gw, dim).numpy(), want, rtol=0, atol=1e-12)
    # the quirk matters: resizing "to size" gives other numbers
    by_size = F.interpolate(torch.from_numpy(grid).permute(2, 0, 1)[None], size=(gh, gw), mode="bicubic")
    assert not np.allclose(by_size[0].permute(1, 2, 0).numpy(), want, atol=1e-3)


def test_pos_embed_unchanged_for_pretrained_square_grid():
    pos = torch.randn(1, 1 + 28 * 28, 8)
    assert interpolate_pos_embed(pos, 28, 28) is pos


DINO_LN_EPS = 1e-6  # SPEC 3: the backbone's LayerNorms
ST_LN_EPS = 1e-5  # SPEC 4: the ST block's


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _einsum_keys(model: DinoViT, images: torch.Tensor) -> torch.Tensor:
    """The backbone written out with einsums: tokens -> 11 blocks -> last block's k."""
    cfg, sd = model.cfg, model.state_dict()
    p, heads, d = cfg.patch_size, cfg.num_heads, cfg.head_dim
    b, _, height, width = images.shape
    gh, gw = height // p, width // p
    patches = images.reshape(b, 3, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, 3 * p * p)
    x = torch.einsum("bnc,dc->bnd", patches, sd["patch_embed.proj.weight"].reshape(cfg.embed_dim, -1))
    x = x + sd["patch_embed.proj.bias"]
    x = torch.cat([sd["cls_token"].expand(b, -1, -1), x], 1) + interpolate_pos_embed(sd["pos_embed"], gh, gw)
    for i in range(cfg.depth):
        w = {k.split(f"blocks.{i}.", 1)[1]: v for k, v in sd.items() if k.startswith(f"blocks.{i}.")}
        y = _layer_norm(x, w["norm1.weight"], w["norm1.bias"], DINO_LN_EPS)
        qkv = torch.einsum("bnc,oc->bno", y, w["attn.qkv.weight"]) + w["attn.qkv.bias"]
        q, k, v = qkv.reshape(b, -1, 3, heads, d).unbind(2)  # (b, n, heads, d)
        if i == cfg.depth - 1:
            return k[:, 1:].reshape(b, gh * gw, heads * d)
        attn = torch.einsum("bnhd,bmhd->bhnm", q, k).mul(d ** -0.5).softmax(-1)
        out = torch.einsum("bhnm,bmhd->bnhd", attn, v).reshape(b, -1, heads * d)
        x = x + torch.einsum("bnc,oc->bno", out, w["attn.proj.weight"]) + w["attn.proj.bias"]
        y = _layer_norm(x, w["norm2.weight"], w["norm2.bias"], DINO_LN_EPS)
        hid = F.gelu(torch.einsum("bnc,oc->bno", y, w["mlp.fc1.weight"]) + w["mlp.fc1.bias"], approximate="none")
        x = x + torch.einsum("bnc,oc->bno", hid, w["mlp.fc2.weight"]) + w["mlp.fc2.bias"]


@pytest.mark.parametrize("arch,size", [("vit_small_8", (24, 40)), ("vit_small_16", (48, 32))])
def test_backbone_keys_match_einsum_formulation(arch, size):
    torch.manual_seed(0)
    model = random_frontend(arch, seed=3).backbone.double()
    with torch.no_grad():  # livelier weights than the 0.02 init so errors would show
        for p in model.parameters():
            p.mul_(5.0)
    images = torch.randn(2, 3, *size, dtype=torch.float64)
    keys = model(images)
    gh, gw = size[0] // model.cfg.patch_size, size[1] // model.cfg.patch_size
    assert keys.shape == (2, gh * gw, model.cfg.embed_dim)
    torch.testing.assert_close(keys, _einsum_keys(model, images), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_the_last_block_s_keys_alone_are_its_query_key_s_bit_for_bit(batch):
    """The backbone computes only the k rows of its last qkv (q, v and the rest are never read): the same float32
    numbers as the whole projection's k, at the live preset's size (10 x 15 patches)."""
    model = random_frontend("vit_small_16", seed=5).backbone
    images = torch.randn(batch, 3, 160, 240, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        x = model.last_block_input(images)
        _, k = model.blocks[-1].query_key(x)
        assert torch.equal(model(images), k[:, :, 1:].transpose(1, 2).flatten(2))


def test_the_queries_alone_are_forward_s_q_bit_for_bit():
    """A frame that will not be a key frame needs no k: the ST block's q rows alone (and the DINO-only last
    block's q) are the same float32 numbers as the whole forward's, at the live preset's size."""
    images = torch.randn(3, 3, 160, 240, generator=torch.Generator().manual_seed(7))
    for st in (True, False):
        frontend = random_frontend("vit_small_16", seed=2)
        if not st:
            frontend.st = None
        with torch.inference_mode():
            q, _ = frontend(images)
            assert torch.equal(frontend.queries(images), q)


@pytest.mark.parametrize("arch", ["vit_small_8", "vit_small_16", "vit_base_8", "vit_base_16"])
def test_presets_shapes(arch):
    cfg = vit_config(arch)
    model = DinoViT(cfg)
    assert sum(p.numel() for p in model.parameters()) == {
        "vit_small_8": 21_670_272, "vit_small_16": 21_665_664,
        "vit_base_8": 85_807_872, "vit_base_16": 85_798_656}[arch]
    size = (2 * cfg.patch_size, 3 * cfg.patch_size)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, *size)).shape == (1, 6, cfg.embed_dim)


def test_st_block_matches_einsum():
    """In float64, so the comparison resolves the LayerNorm's eps (SPEC 4: 1e-5) and the q/k row order."""
    cfg = STConfig()
    block = STBlock(cfg).double()
    torch.nn.init.normal_(block.qk.weight)
    torch.nn.init.normal_(block.norm1.weight)
    feats = torch.randn(3, 10, 384, dtype=torch.float64) * 0.05  # small features: eps is felt in the variance
    q, k = block(feats)
    y = _layer_norm(feats, block.norm1.weight, block.norm1.bias, ST_LN_EPS)
    want = torch.einsum("tnc,oc->tno", y, block.qk.weight).reshape(3, 10, 2, 8, 48)
    assert q.shape == k.shape == (3, 8, 10, 48)
    torch.testing.assert_close(q, want[:, :, 0].transpose(1, 2), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(k, want[:, :, 1].transpose(1, 2), rtol=1e-10, atol=1e-10)
    assert cfg.scale == 48 ** -0.5


def test_frontend_modes():
    st = random_frontend("vit_small_8", seed=0)
    dino = random_frontend("vit_small_8", seed=0, st=False)
    images = torch.randn(2, 3, 16, 24)
    with torch.no_grad():
        q, k = st(images)
        assert st.mode == "st" and q.shape == k.shape == (2, 8, 6, 48) and st.scale == 48 ** -0.5
        q, k = dino(images)
        assert dino.mode == "dino-only" and q.shape == k.shape == (2, 6, 6, 64) and dino.scale == 64 ** -0.5
        # DINO-only keys are exactly the backbone's keys, split into heads
        torch.testing.assert_close(k.transpose(1, 2).flatten(2), dino.backbone(images))


def test_resolution_not_multiple_of_patch_is_refused():
    model = DinoViT(vit_config("vit_small_8"))
    with pytest.raises(ValueError, match="not a multiple of the patch size 8"):
        model(torch.zeros(1, 3, 20, 24))
