"""The clustering with the Triton ops table: the reference's partition, and the dispatch rules."""
import functools
import json

import pytest
import torch

from attnseg.kernels import cluster_ops
from attnseg.kernels.dispatch import resolve
from attnseg.model import cluster_video
from attnseg.model.clustering import REFERENCE_OPS

triton = pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.cuda  # the device suite runs these on the GPU


def clusterer(name: str, device: str):
    """cluster_video as the kernels `name` run it on `device`."""
    return functools.partial(cluster_video, ops=cluster_ops(name, device))


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
    assert cluster_ops("auto", "cuda") is REFERENCE_OPS
    with pytest.raises(ValueError, match="choose from auto, torch, triton, certified"):
        resolve("cuda", "cpu")


def test_auto_takes_the_faster_measured_and_remembers_it(artifact_cache):
    """The implementations are exact (fp32, or certified); auto times one window of each and keeps the fastest, once
    per device, versions and shape (remembered in the cache, so a second start measures nothing)."""
    from attnseg.kernels import dispatch

    timed = []

    def timer(name, probe, device):
        timed.append(name)
        return {"torch": 0.2, "triton": 0.5, "certified": 0.3}[name]

    probe = dispatch.Probe(tokens=24)
    assert dispatch.fastest(torch.device("cpu"), probe, timer) == "torch"
    assert timed == ["torch", "triton", "certified"]
    assert dispatch.fastest(torch.device("cpu"), probe, lambda *a: 1 / 0) == "torch"  # remembered
    assert (artifact_cache / "kernels_auto.json").is_file()
    faster_triton = lambda name, probe, device: {"torch": 0.5, "triton": 0.2, "certified": 0.3}[name]  # noqa: E731
    assert dispatch.fastest(torch.device("cpu"), dispatch.Probe(tokens=25), faster_triton) == "triton"
    faster_certified = lambda name, probe, device: {"torch": 0.5, "triton": 0.2, "certified": 0.1}[name]  # noqa: E731
    assert dispatch.fastest(torch.device("cpu"), dispatch.Probe(tokens=26), faster_certified) == "certified"


def test_auto_on_cuda_is_the_measured_choice(monkeypatch):
    from attnseg.kernels import dispatch

    monkeypatch.setattr(dispatch, "triton_unavailable", lambda device: None)
    monkeypatch.setattr(dispatch, "fastest", lambda device, probe: f"measured {probe.tokens}")
    assert resolve("auto", "cuda", dispatch.Probe(tokens=7)) == "measured 7"
    assert resolve("auto", "cpu") == "torch"  # a CPU runs the reference: the interpreter is not a speed


def test_the_probe_times_a_real_window():
    from attnseg.kernels.dispatch import Probe, time_window

    seconds = time_window("torch", Probe(tokens=12, key_frames=2), torch.device("cpu"), repeats=1)
    assert 0 < seconds < 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_on_the_gpu_measures_both(artifact_cache):
    from attnseg.kernels import dispatch

    probe = dispatch.Probe(tokens=150, key_frames=4)  # the streaming shape: quick
    choice = dispatch.fastest(torch.device("cuda"), probe)
    known = json.loads((artifact_cache / "kernels_auto.json").read_text())
    (entry,) = known.values()
    assert choice == min(entry["seconds"], key=entry["seconds"].get) and all(s > 0 for s in entry["seconds"].values())


def test_certified_is_chosen_by_name_and_its_cpu_product_by_measurement(monkeypatch):
    from attnseg.kernels import certified_table, dispatch

    assert resolve("certified", "cpu") == "certified"
    ops = certified_table("cpu")
    assert ops.tally is not None and ops.tally.entries == 0
    q, k = random_qk(4, 20, 4.0)
    got = clusterer("certified", DEVICE)(q, k, 48 ** -0.5, ratio=3)
    assert torch.equal(got.labels, cluster_video(q, k, 48 ** -0.5, ratio=3).labels)
    assert dispatch.fast_product("cuda") == "bf16"


@pytest.mark.parametrize("capability,bf16,want,probed", [
    ("AVX2", {}, "fp32", []),  # never probed: bf16 is a scalar fallback there
    ("DEFAULT", {}, "fp32", []),
    ("AVX512", {256: 0.4, 1024: 0.5}, "bf16", [256, 1024]),  # twice as fast at the clustering's size
    ("AVX512", {256: 0.4, 1024: 0.6}, "fp32", [256, 1024]),  # faster, but not twice
    ("AVX512", {256: 5.0, 1024: 0.1}, "fp32", [256]),  # emulated bf16: caught by the small gate, 1024 never run
])
def test_the_certified_cpu_product_follows_the_measurement(monkeypatch, capability, bf16, want, probed):
    from attnseg.kernels import dispatch

    calls = []

    def seconds(n):
        calls.append(n)
        return {torch.float32: 1.0, torch.bfloat16: bf16[n]}

    monkeypatch.setattr(dispatch, "_product_seconds", seconds)
    dispatch._cpu_product.cache_clear()
    try:
        assert dispatch._cpu_product(capability) == want and calls == probed
    finally:
        dispatch._cpu_product.cache_clear()
