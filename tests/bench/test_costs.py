"""The cost model: counted FLOPs against the ViT's closed form, bytes of known ops, peaks, roofline fraction."""
import pytest
import torch

from attnseg.bench.costs import StageCosts, ceiling_seconds, fraction_of_peak
from attnseg.bench.peaks import copy_bandwidth, elementwise_rate, matmul_rate
from attnseg.engine.timing import StageTimer
from attnseg.model import build_frontend


def vit_flops(batch: int, grid: tuple[int, int], patch: int, dim: int, depth: int, st_dim: int) -> int:
    """Closed form of what the front-end runs: patch embedding, depth-1 full blocks, the
    last block's k rows of qkv only (its keys), and the ST block's q/k projection."""
    patches = grid[0] * grid[1]
    n = patches + 1
    embed = 2 * batch * patches * 3 * patch * patch * dim
    block = 24 * batch * n * dim * dim + 4 * batch * n * n * dim  # qkv, proj, mlp (x4) + QK^T, PV
    last = 2 * batch * n * dim * dim
    st = 2 * batch * patches * st_dim * 2 * st_dim
    return embed + (depth - 1) * block + last + st


def test_front_end_flops_match_the_closed_form():
    frontend, _ = build_frontend("vit_small_16", random_weights=True)
    images = torch.randn(2, 3, 32, 48)
    timer = StageTimer()
    with torch.inference_mode(), StageCosts() as costs, timer("backbone"):
        frontend(images)
    cfg = frontend.backbone.cfg
    want = vit_flops(2, (2, 3), 16, cfg.embed_dim, cfg.depth, frontend.st.cfg.dim)
    assert costs.stages["backbone"]["flops"] == want


def test_stage_attribution_and_bytes():
    a, b = torch.randn(64, 32), torch.randn(32, 16)
    timer = StageTimer()
    with torch.inference_mode(), StageCosts() as costs:
        with timer("affinity"):
            a @ b  # 2*64*32*16 FLOP; reads 64*32 + 32*16 floats, writes 64*16
            a.t()  # a view: no bytes
        with timer("clustering"):
            torch.einsum("hnd,hmd->hnm", torch.randn(2, 4, 8), torch.randn(2, 5, 8))
        torch.exp(a)
    s = costs.stages
    assert s["affinity"]["flops"] == 2 * 64 * 32 * 16
    assert s["affinity"]["bytes"] == 4 * (64 * 32 + 32 * 16 + 64 * 16)
    assert s["clustering"]["flops"] == 2 * 2 * 4 * 5 * 8
    assert s["other"]["flops"] == 0 and s["other"]["bytes"] == 2 * 4 * 64 * 32


def test_transcendentals_are_counted_per_element_where_they_run():
    x = torch.rand(6, 10) + 0.1
    timer = StageTimer()
    with torch.inference_mode(), StageCosts() as costs:
        with timer("affinity"):
            x.softmax(dim=-1)  # 60 exps
            torch.log(x.clamp_min(1e-30))  # 60 logs; the clamp is neither
        with timer("clustering"):
            torch.nn.functional.gelu(x)  # 60 (erf)
            x.log_softmax(dim=-1)  # 60 exps and 60 logs
            x * x + 1  # neither
    s = costs.stages
    assert (s["affinity"]["exp"], s["affinity"]["log"]) == (60, 60)
    assert (s["clustering"]["exp"], s["clustering"]["log"]) == (120, 60)


def test_the_ceiling_adds_matrix_time_and_transcendental_time():
    peaks = {"fp32_matmul_gflops": 100.0, "exp_gelems": 2.0, "log_gelems": 4.0}
    cost = {"flops": 50e9, "bytes": 1e12, "exp": 1e9, "log": 2e9}  # 0.5 s + 0.5 s + 0.5 s; bytes free
    assert ceiling_seconds(cost, peaks) == pytest.approx(1.5)


def test_elementwise_rates_are_positive_and_bounded():
    for name in ("exp", "log"):
        rate = elementwise_rate(name, torch.device("cpu"), mib=8, repeats=2)
        assert 1e6 < rate < 1e12, (name, rate)


def test_fraction_of_peak_is_the_binding_roofline():
    peaks = {"fp32_matmul_gflops": 100.0, "copy_gbps": 10.0}
    compute = fraction_of_peak({"flops": 50e9, "bytes": 1e9}, 1.0, peaks)  # 0.5 s of math, 0.1 s of bytes
    assert compute["bound"] == "compute" and compute["fraction_of_peak"] == pytest.approx(0.5)
    memory = fraction_of_peak({"flops": 0, "bytes": 5e9}, 2.0, peaks)
    assert memory["bound"] == "memory" and memory["fraction_of_peak"] == pytest.approx(0.25)
    assert memory["achieved_gbytes_per_s"] == pytest.approx(2.5)


def test_peaks_are_measured_and_positive():
    assert matmul_rate(torch.float32, torch.device("cpu"), n=256, repeats=2) > 1e8
    assert copy_bandwidth(torch.device("cpu"), mib=8, repeats=2) > 1e8


def test_triton_launches_are_charged_to_their_stage():
    """A Triton kernel is one opaque call to torch's dispatcher; its declared Cost is charged instead.
    The kernels do the reference's products (the affinity twice: statistics, then output)."""
    from attnseg.bench.costs import count_costs
    from attnseg.engine import SegmentSettings, Segmenter
    from attnseg.engine.synthetic import synthetic_clip

    frames, _ = synthetic_clip(4, 64, 96)
    flops = {}
    for kernels in ("torch", "triton"):  # triton: interpreted on a CPU
        seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16", qk_gain=3.0,
                                        config=SegmentSettings(resolution=(32, 48), kernels=kernels))
        flops[kernels] = {stage: c["flops"] for stage, c in count_costs(seg, frames).items()}
    assert flops["triton"]["affinity"] == 2 * flops["torch"]["affinity"] > 0
    assert flops["torch"]["clustering"] <= flops["triton"]["clustering"] <= 1.1 * flops["torch"]["clustering"]


def test_peak_probes_are_time_bound_on_a_host_without_a_fast_path(monkeypatch):
    from attnseg.bench import peaks

    sizes = []

    def rate_of(gflops):
        def rate(dtype, device, n, repeats):
            sizes.append(n)
            return gflops * 1e9

        return rate

    monkeypatch.setattr(peaks, "_rate", rate_of(0.8))  # bf16 through a scalar fallback (an AVX2-only CPU)
    peaks.matmul_rate(torch.bfloat16, torch.device("cpu"))
    assert sizes == [peaks.PROBE_N, 448] and 2 * 448 ** 3 / 0.8e9 <= peaks.PROBE_SECONDS  # 0.22 s, not 21 s a product
    sizes.clear()
    monkeypatch.setattr(peaks, "_rate", rate_of(1000.0))  # a fast path keeps the full product
    peaks.matmul_rate(torch.float32, torch.device("cpu"))
    assert sizes == [peaks.PROBE_N, 2048]
    sizes.clear()
    peaks.matmul_rate(torch.float32, torch.device("cpu"), n=1024, budget=None)
    assert sizes == [1024]
