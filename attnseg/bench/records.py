"""Benchmark records: one JSON per run with machine, versions, commit, settings and figures."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from ..files import write_atomic
from ..optional import installed_version

RESULTS = Path("benchmarks") / "results"  # relative to the working directory


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)
        # dirty = code differs from the commit; records and the page they render into do not count
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(top,exclude)benchmarks/results", ":(top,exclude)docs/results.md"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):  # a copy without .git (a lent GPU machine): told by the caller
        return os.environ.get("ATTNSEG_COMMIT", "unknown")


def machine() -> dict:
    info = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX2 or AVX512: which products are fast
        "python": platform.python_version(), "torch": torch.__version__, "triton": installed_version("triton"),
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def write_record(name: str, settings: dict, figures: dict, results: str | Path = RESULTS) -> Path:
    record = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(), "machine": machine(), "settings": settings, "figures": figures,
    }
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    write_atomic(path, json.dumps(record, indent=1) + "\n")
    return path
