"""Benchmark scripts write their records here, under benchmarks/results/ (see attnseg.bench.records)."""
from __future__ import annotations

from pathlib import Path

from attnseg.bench.records import git_commit, machine  # noqa: F401
from attnseg.bench.records import write_record as _write_record

RESULTS = Path(__file__).resolve().parent / "results"
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16"  # ../shared beside the checkout
DAVIS_FRAMES = DAVIS / "JPEGImages" / "480p"  # one folder of JPEGs per clip; absent in a user's clone
__all__ = ["DAVIS", "DAVIS_FRAMES", "RESULTS", "git_commit", "machine", "write_record"]


def write_record(name: str, settings: dict, figures: dict) -> Path:
    return _write_record(name, settings, figures, RESULTS)
