"""Records -> the results section and plots; the committed docs/results.md matches the committed records."""
import json
from pathlib import Path

import pytest

from benchmarks.report import BEGIN, END, load_records, readme_section, render, replace_section, results_markdown

ROOT = Path(__file__).resolve().parents[2]


def bench_record(backend: str, p50: float) -> dict:
    stages = {s: {"p50": p50 / 4} for s in ("decode", "backbone", "clustering", "output")}
    return {
        "benchmark": f"bench_cpu_{backend}_torch_vit_small_8_160x256_b8", "commit": "abcdef123456",
        "machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.x"},
        "settings": {"device": "cpu", "backend": backend, "kernels": "torch", "arch": "vit_small_8",
                     "resolution": [160, 256], "batch_size": 8, "clip": "synthetic"},
        "figures": {"seconds": stages, "end_to_end_seconds": {"p50": p50, "p90": p50 * 1.1}, "fps": 30 / p50,
                    "clusters": 7, "peak_host_mib": 12.0, "parity_vs_reference": 1.0,
                    "peaks": {"fp32_matmul_gflops": 200.0, "bf16_matmul_gflops": 900.0, "copy_gbps": 40.0},
                    "cost_model": {"backbone": {"gflops": 100.0, "gbytes": 1.0, "achieved_gflops_per_s": 50.0,
                                                "achieved_gbytes_per_s": 0.5, "bound": "compute",
                                                "fraction_of_peak": 0.25}}},
    }


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for backend, p50 in (("eager", 8.0), ("compiled", 6.0)):
        record = bench_record(backend, p50)
        (folder / f"{record['benchmark']}.json").write_text(json.dumps(record))
    return folder


def test_section_renders_every_record(results):
    body = results_markdown(load_records(results))
    assert "| cpu compiled/torch vit_small_8 160x256 b8 | Test CPU (2 cores), torch 2.x | synthetic | 6.00 |" in body
    assert "| cpu eager/torch vit_small_8 160x256 b8 | backbone | 100.0 | 1.00 | 50.0 | 0.5 | compute | 0.25 |" in body
    assert "fp32 matmul 200.0 GFLOP/s" in body and "abcdef1" in body


def test_readme_section_is_replaced_between_markers_only(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{BEGIN}\nold numbers\n{END}\n\ntail\n")
    body = render(results, readme, tmp_path / "plots")
    text = readme.read_text()
    assert text.startswith("# title\n\n") and text.endswith(f"{END}\n\ntail\n") and "old numbers" not in text
    assert readme_section(text) == body and "![latency_stages](plots/latency_stages.png)" in body
    assert (tmp_path / "plots" / "latency_stages.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "plots" / "fraction_of_peak.png").exists()


def test_missing_markers_are_one_clear_error():
    with pytest.raises(ValueError, match="no results markers"):
        replace_section("# a README without markers\n", "body")


@pytest.mark.skipif(not (ROOT / "benchmarks" / "results").is_dir(), reason="no committed records")
def test_committed_readme_matches_committed_records():
    """Nothing in the results section is typed by hand."""
    want = results_markdown(load_records(ROOT / "benchmarks" / "results"), "../benchmarks/results/plots")
    assert readme_section((ROOT / "docs" / "results.md").read_text()) == want, "run python -m benchmarks.render"
