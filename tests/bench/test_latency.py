"""Latency harness: percentiles, peak memory sampling, records of the standard suite."""
import json

import numpy as np
import pytest

from attnseg.bench.latency import PeakRSS, summarize
from attnseg.bench.suite import BenchConfig, run_config, standard_frames
from attnseg.cli import main


def test_summarize_percentiles():
    s = summarize(list(range(1, 101)))  # 1..100, numpy's linear interpolation
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01) and s["n"] == 100 and s["mean"] == pytest.approx(50.5)


def test_peak_rss_sees_a_transient_allocation():
    with PeakRSS(period=0.001) as rss:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
        del block
    assert rss.growth_mib > 32


def test_run_config_writes_a_complete_record(tmp_path):
    frames = standard_frames(4, (64, 96))
    cfg = BenchConfig(arch="vit_small_16", resolution=(32, 48), batch_size=2)
    figures, path = run_config(cfg, frames, repeats=2, warmup=1, results=str(tmp_path))
    record = json.loads(path.read_text())
    assert record["benchmark"] == cfg.name and record["machine"]["cores"] >= 1 and record["commit"]
    assert {"backbone", "affinity", "clustering", "total"} <= record["figures"]["seconds"].keys()
    stage = record["figures"]["seconds"]["backbone"]
    assert stage["n"] == 2 and stage["p50"] <= stage["p90"] <= stage["p99"]
    assert record["figures"]["parity_vs_reference"] == 1.0  # the engine runs the reference here
    assert record["figures"]["fps"] > 0 and record["settings"]["resolution"] == [32, 48]


def test_cli_bench(tmp_path, capsys):
    assert main(["bench", "--arch", "vit_small_16", "--resolution", "32", "48", "--frames", "3",
                 "--repeats", "1", "--warmup", "0", "--results", str(tmp_path)]) == 0
    assert "bench_cpu_eager_torch_vit_small_16_32x48_b8" in capsys.readouterr().out
    assert len(list(tmp_path.glob("bench_*.json"))) == 1
