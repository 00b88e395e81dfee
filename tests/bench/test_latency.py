"""Latency harness: percentiles, peak memory sampling, records of the standard suite."""
import json
import mmap
import time

import pytest
import torch

from attnseg.bench.latency import PeakRSS, summarize
from attnseg.bench.suite import BenchConfig, compare, run_config, standard_frames, write_jpeg_clip
from attnseg.cli import main
from attnseg.engine import Segmenter


def test_summarize_percentiles():
    s = summarize(list(range(1, 101)))  # 1..100, numpy's linear interpolation
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01) and s["n"] == 100 and s["mean"] == pytest.approx(50.5)


def test_peak_rss_sees_a_transient_allocation():
    # A fresh anonymous mapping: new resident pages whatever the allocator kept from earlier tests (a
    # malloc'd block can reuse pages that are already resident, and then the RSS does not grow).
    with PeakRSS(period=0.001) as rss:
        block = mmap.mmap(-1, 64 * 2**20)
        for offset in range(0, len(block), 4096):  # touch every page
            block[offset] = 1
        time.sleep(0.05)  # alive for many sampling periods
        block.close()
    assert rss.growth_mib > 32


PEAKS = {"fp32_matmul_gflops": 100.0, "bf16_matmul_gflops": 400.0, "copy_gbps": 10.0}


def test_run_config_writes_a_complete_record(tmp_path):
    """The certified kernels: another implementation than the reference the parity is taken against, exact by
    construction, so a parity of 1 is a finding (test_parity_is_the_share_of_labels_equal_to_the_reference shows
    the figure can say otherwise)."""
    clip = write_jpeg_clip(standard_frames(4, (64, 96)), tmp_path / "clip")
    cfg = BenchConfig(arch="vit_small_16", resolution=(32, 48), batch_size=2, kernels="certified")
    figures, path = run_config(cfg, str(clip), repeats=2, warmup=1, results=str(tmp_path), peaks=PEAKS)
    record = json.loads(path.read_text())
    assert record["benchmark"] == f"bench_{cfg.name}_synthetic" and record["machine"]["cores"] >= 1 and record["commit"]
    seconds = record["figures"]["seconds"]
    assert {"decode", "preprocess", "backbone", "affinity", "clustering", "output", "total"} <= seconds.keys()
    stage = seconds["backbone"]
    assert stage["n"] == 2 and stage["p50"] <= stage["p90"] <= stage["p99"]
    assert seconds["decode"]["p50"] > 0 and seconds["output"]["p50"] > 0  # real files both ways
    assert record["figures"]["parity_vs_reference"] == 1.0 and record["figures"]["certificate"]["entries"] > 0
    assert record["figures"]["fps"] > 0 and record["settings"]["resolution"] == [32, 48]
    model = record["figures"]["cost_model"]
    assert model["backbone"]["gflops"] > 0 and model["clustering"]["gflops"] > 0
    for stage, cost in model.items():
        ideal = max(cost["gflops"] / PEAKS["fp32_matmul_gflops"], cost["gbytes"] / PEAKS["copy_gbps"])
        assert cost["fraction_of_peak"] == pytest.approx(ideal / seconds[stage]["p50"])


def test_parity_is_the_share_of_labels_equal_to_the_reference(monkeypatch):
    """The parity figure is the share of tokens the engine labels as a separately built reference does: with a
    reference at another tau (monkeypatched in), it is that share, below 1."""
    import dataclasses

    from attnseg.bench import suite

    frames = standard_frames(6, (64, 96))
    cfg = BenchConfig(arch="vit_small_16", resolution=(64, 96), batch_size=2)

    def other(seg):
        return Segmenter(seg.frontend, seg.weights, dataclasses.replace(seg.config, tau=0.5), seg.device)

    monkeypatch.setattr(suite, "reference_of", other)
    figures, _ = run_config(cfg, frames, repeats=1, warmup=0, qk_gain=6.0)
    engine = suite.build(cfg, None, 6.0)
    want = float((engine.segment_video(frames).labels == other(engine).segment_video(frames).labels).mean())
    assert 0 < want < 1 and figures["parity_vs_reference"] == pytest.approx(want)


def test_compare_reports_ratios_of_the_same_clip(tmp_path):
    frames = standard_frames(6, (64, 96))
    cfg = BenchConfig(arch="vit_small_16", resolution=(64, 96), batch_size=2, kernels="certified")
    figures, path = compare(cfg, frames, repeats=1, warmup=0, results=str(tmp_path), qk_gain=6.0)
    assert path.name == f"compare_{cfg.name}_synthetic.json"
    assert figures["engine"]["clusters"] > 1  # several clusters: the assignment has choices to get wrong
    assert figures["label_agreement"] == 1.0  # certified decisions against the reference's: exact
    ref, eng = figures["reference"]["end_to_end_seconds"]["p50"], figures["engine"]["end_to_end_seconds"]["p50"]
    assert figures["speedup_p50"]["end_to_end"] == pytest.approx(ref / eng)
    assert {"backbone", "clustering"} <= figures["speedup_p50"].keys()


@pytest.mark.cuda
def test_cli_bench(tmp_path, capsys):
    assert main(["bench", "--arch", "vit_small_16", "--resolution", "32", "48", "--frames", "3",
                 "--repeats", "1", "--warmup", "0", "--no-cost-model", "--results", str(tmp_path)]) == 0
    device = "cuda" if torch.cuda.is_available() else "cpu"  # bench defaults to the GPU when there is one
    assert f"{device}_eager_torch_vit_small_16_32x48_b8" in capsys.readouterr().out
    assert len(list(tmp_path.glob("bench_*.json"))) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cli_bench_on_cuda_without_a_gpu_is_one_line(capsys):
    assert main(["bench", "--device", "cuda", "--no-cost-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["attnseg: error: device cuda asked for, but no CUDA device is available; run on the cpu"]


def test_cli_bench_writes_its_records_into_a_folder_it_names():
    """Not into a checkout's committed benchmarks/results unless asked."""
    from attnseg.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["bench"]).results == "runs/bench"
    bench = parser._subparsers._group_actions[0].choices["bench"]
    assert "(default: runs/bench;" in " ".join(bench.format_help().split())
