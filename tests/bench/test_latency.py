"""Latency harness: percentiles, peak memory sampling, records of the standard suite."""
import json
import mmap
import time

import pytest
import torch

from attnseg.bench.latency import PeakRSS, summarize
from attnseg.bench.suite import BenchConfig, compare, run_config, standard_frames, write_jpeg_clip
from attnseg.cli import main


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
    clip = write_jpeg_clip(standard_frames(4, (64, 96)), tmp_path / "clip")
    cfg = BenchConfig(arch="vit_small_16", resolution=(32, 48), batch_size=2)
    figures, path = run_config(cfg, str(clip), repeats=2, warmup=1, results=str(tmp_path), peaks=PEAKS)
    record = json.loads(path.read_text())
    assert record["benchmark"] == f"bench_{cfg.name}_synthetic" and record["machine"]["cores"] >= 1 and record["commit"]
    seconds = record["figures"]["seconds"]
    assert {"decode", "preprocess", "backbone", "affinity", "clustering", "output", "total"} <= seconds.keys()
    stage = seconds["backbone"]
    assert stage["n"] == 2 and stage["p50"] <= stage["p90"] <= stage["p99"]
    assert seconds["decode"]["p50"] > 0 and seconds["output"]["p50"] > 0  # real files both ways
    assert record["figures"]["parity_vs_reference"] == 1.0  # the engine runs the reference here
    assert record["figures"]["fps"] > 0 and record["settings"]["resolution"] == [32, 48]
    model = record["figures"]["cost_model"]
    assert model["backbone"]["gflops"] > 0 and model["clustering"]["gflops"] > 0
    for stage, cost in model.items():
        ideal = max(cost["gflops"] / PEAKS["fp32_matmul_gflops"], cost["gbytes"] / PEAKS["copy_gbps"])
        assert cost["fraction_of_peak"] == pytest.approx(ideal / seconds[stage]["p50"])


def test_compare_reports_ratios_of_the_same_clip(tmp_path):
    frames = standard_frames(4, (64, 96))
    cfg = BenchConfig(arch="vit_small_16", resolution=(32, 48), batch_size=2)
    figures, path = compare(cfg, frames, repeats=1, warmup=0, results=str(tmp_path))
    assert path.name == f"compare_{cfg.name}_synthetic.json"
    assert figures["label_agreement"] == 1.0  # engine == reference in this configuration
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
