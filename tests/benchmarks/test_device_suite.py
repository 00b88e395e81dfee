"""The prepared GPU run (benchmarks/device_suite.py) in --smoke: the same code on this CPU at tiny sizes,
so the suite a lent GPU runs has run here first, part by part, and its records have the fields
docs/gpu.md describes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("machine", "tests", "window", "frontend", "streaming", "offline")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATTNSEG_CACHE": str(out / "cache")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.device_suite", "--smoke", "--out", str(out / "records")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    records = {p.stem.removeprefix("device_").removesuffix("_cpu-smoke"): json.loads(p.read_text())
               for p in (out / "records").glob("device_*.json")}
    return proc, records


@pytest.mark.slow
def test_every_part_runs_and_writes_its_record(suite):
    proc, records = suite
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(records) == {*PARTS, "suite"}
    assert {part: o["status"] for part, o in records["suite"]["figures"].items()} == dict.fromkeys(PARTS, "ok")
    assert "| window | ok |" in proc.stdout  # the summary table comes last
    for name, r in records.items():  # the benchmarks/results format
        assert r["commit"] and r["machine"]["cpu_capability"] and r["settings"]["smoke"] is True, name


@pytest.mark.slow
def test_the_records_hold_what_the_gpu_run_must_report(suite):
    _, r = suite
    assert r["machine"]["figures"]["peaks"]["fp32_matmul_gflops"] > 0
    assert r["tests"]["figures"]["counts"].get("passed", 0) >= 2 and not r["tests"]["figures"]["failed"]
    for shape in r["window"]["figures"].values():  # both implementations (Triton interpreted here), and parity
        impls = shape["implementations"]
        assert set(impls) == {"torch", "triton", "certified"} and shape["clusters"] >= 1
        assert impls["certified"]["parity"]["assignment_agreement"] == 1.0  # exact decisions
        assert 0 <= impls["certified"]["certificate"]["recomputed_fraction"] <= 1
        assert impls["triton"]["parity"]["merge_labels_equal"] and impls["torch"]["cost_model"]["distances"]["flops"]
    variants = r["frontend"]["figures"]["variants"]
    # every variant against the first (eager fp32): bf16's rounding shows (the figure is a real comparison)
    assert variants["bf16 autocast"]["qk_relative_error"] > 1e-4 and variants["eager fp32"]["clusters"] >= 1
    assert "CUDA" in variants["tf32"]["skipped"]
    assert variants["bf16 autocast"]["batch_4"]["frames_per_s"] > 0 and "error" not in variants["compiled"]
    assert variants["onnxruntime"]["qk_relative_error"] < 1e-4
    streaming = r["streaming"]["figures"]
    assert set(streaming["paced"]) == {"30 fps", "60 fps"}
    assert streaming["paced"]["30 fps"]["frames_in"] == 12 and streaming["paced"]["30 fps"]["latency_ms"]["p99"] > 0
    assert streaming["long"]["frames"] == streaming["long"]["asked"] == 24
    offline = r["offline"]["figures"]
    assert offline["labels_equal_to_reference_kernels"] == 1.0 and offline["stats"]["frames"] >= 1


@pytest.mark.slow
def test_the_records_render_into_the_readme_gpu_section(suite):
    """A GPU run's records (here the smoke's, marked as if from a GPU) become the GPU section of docs/results.md."""
    from benchmarks.sections_device import device_section

    _, records = suite
    assert device_section(list(records.values())) == device_section([])  # smoke records are never rendered
    assert "Nothing is measured on a GPU yet" in "\n".join(device_section([]))
    for r in records.values():
        r["settings"]["smoke"] = False
    text = "\n".join(device_section(list(records.values())))
    for heading in ("Clustering of one 3-frame window", "Front-end, vit_small_16", "Live streaming",
                    "A whole DAVIS clip through `attnseg segment`", "Tests on the GPU"):
        assert heading in text
    assert "| eager fp32 |" in text and "| 30 fps |" in text
