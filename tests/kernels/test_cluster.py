"""The clustering with the Triton ops table: the reference's partition, and the dispatch rules."""
import pytest
import torch

from attnseg.kernels import clusterer
from attnseg.kernels.dispatch import resolve
from attnseg.model import cluster_video

triton = pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_qk(frames: int, tokens: int, gain: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, 8, tokens, 48, generator=g)
    drift = torch.randn(frames, 8, tokens, 48, generator=g) * 0.3
    q = (base + drift) * gain
    k = base + torch.randn(frames, 8, tokens, 48, generator=g) * 0.3
    return q.to(DEVICE), k.to(DEVICE)


@pytest.mark.parametrize("frames,tokens,ratio,gain", [(7, 24, 3, 3.0), (4, 37, 10, 4.0), (1, 20, 10, 2.0),
                                                      (10, 15, 5, 5.0)])
def test_triton_partition_equals_reference(frames, tokens, ratio, gain):
    """Short last windows (7 = 3+3+1), one key frame (T < ratio), a single frame, many clusters."""
    q, k = random_qk(frames, tokens, gain)
    want = cluster_video(q, k, 48 ** -0.5, ratio=ratio)
    got = clusterer("triton", DEVICE)(q, k, 48 ** -0.5, ratio=ratio)
    assert got.num_clusters == want.num_clusters and got.level1_clusters == want.level1_clusters
    assert torch.equal(got.labels, want.labels)


@pytest.mark.parametrize("gain", [6.0, 8.0])
def test_triton_partition_on_a_davis_clip(davis_small_qk, gain):
    """Real frames, 48x80 (60 tokens a frame), 2 key frames: 43 and 263 clusters."""
    q, k = davis_small_qk(gain)
    want = cluster_video(q, k, 48 ** -0.5, ratio=5)
    got = clusterer("triton", DEVICE)(q, k, 48 ** -0.5, ratio=5)
    assert want.num_clusters > 10
    agree = (got.labels == want.labels).float().mean().item()
    assert got.num_clusters == want.num_clusters and agree == 1.0, agree


def test_dispatch(monkeypatch):
    assert resolve("torch", "cpu") == "torch" and resolve("auto", "cpu") == "torch"
    if DEVICE == "cpu":
        assert resolve("triton", "cpu") == "triton"  # the interpreter (conftest sets it)
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
            resolve("triton", "cpu")
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv("ATTNSEG_DISABLE_TRITON", "1")
    with pytest.raises(ValueError, match="disabled by ATTNSEG_DISABLE_TRITON"):
        resolve("triton", DEVICE)
    assert resolve("auto", "cuda") == "torch"  # falls back, warning once
    assert clusterer("auto", "cuda") is cluster_video
    with pytest.raises(ValueError, match="choose from auto, torch, triton"):
        resolve("cuda", "cpu")
