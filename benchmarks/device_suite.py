"""The prepared GPU run: one command that turns every GPU row of the project into a record.

    PYTHONPATH=. python3 -m benchmarks.device_suite --out OUT [--data .device/davis16]
    python -m benchmarks.device_suite --smoke --out /tmp/suite     # the same code on a CPU, tiny sizes

Parts, in order; each runs in its own process under its own time box, and the suite goes on past a part
that fails or overruns, naming it (docs/gpu.md has the device-tool call, the records and the targets):
1. machine: GPU, driver, torch, CUDA, Triton, ONNX Runtime providers; measured peaks (fp32, TF32 and bf16
   matrix products, copy bandwidth), which the later parts divide by;
2. tests: every test that can use CUDA, on CUDA (kernels, model, backends, streaming, bench), slow ones out;
3. window: one 3-frame window clustered at 320x480 against 8 key frames (vit_small_8) and at the
   streaming shape (vit_small_16, 160x240, 4 key frames): per-stage ms of the reference (torch on the
   device), of the fp32 Triton kernels and of the certified bf16 kernels (with the share of decisions
   they recomputed exactly and its time), parity (D1 ties, merge labels equal, assignment agreement),
   peak device memory, FLOPs and fraction of the measured peaks;
4. frontend: vit_small_8 at 320x480, ms/frame at batch 1 and frames/s at batch 32, for eager fp32,
   TF32, bf16 autocast, torch.compile with CUDA graphs, AOTInductor bf16 and ONNX Runtime's CUDA
   provider when it is there; each with its q, k error against eager fp32 and its label agreement on a
   DAVIS clip;
5. streaming: a DAVIS clip paced live at 30 and at 60 fps (fps, capture-to-mask p50/p95/p99, drops,
   device memory), then a 3000-frame stream (device memory and time per 100 frames, first against last);
6. offline: a whole DAVIS clip through `attnseg segment` (the CLI), its stage times and its labels
   against the reference kernels.
Each part writes one JSON record (the benchmarks/results format: machine, GPU, versions, commit) into
--out as it goes; the suite prints a summary table last. The load is representative: a random
checkpoint in the paper's format with its ST q/k rows scaled by --qk-gain (hundreds of clusters at
320x480; random weights at gain 1 give a single cluster), and every record states its cluster counts.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
from .common import DAVIS  # noqa: E402
from .device_live import part_frontend, part_streaming  # noqa: E402
from .device_parts import BUDGET_S, part_machine, part_offline, part_tests, part_window, sizes, slug  # noqa: E402

from attnseg.bench.records import write_record  # noqa: E402

PARTS = ("machine", "tests", "window", "frontend", "streaming", "offline")
SMOKE_BUDGET_S = {"machine": 120, "tests": 300, "window": 300, "frontend": 600, "streaming": 300, "offline": 300}
TARGETS = {"frontend_ms_batch1": 1.0, "frontend_fps_batched": 1500, "window_ms": 10.0, "live_fps": 60,
           "live_p99_ms": 50.0}
DEFAULT_DATA = DAVIS


HANDLERS = {"machine": part_machine, "tests": part_tests, "window": part_window, "frontend": part_frontend,
            "streaming": part_streaming, "offline": part_offline}


# -- the driver --------------------------------------------------------------------------------------------

def run_part(args, part: str, budget: float) -> dict:
    """Run one part in a child process under its time box; what it returned, or why it did not."""
    result = Path(args.work) / f"{part}.result.json"
    cmd = [sys.executable, "-m", "benchmarks.device_suite", "--part", part, "--out", args.out, "--work", args.work,
           "--data", args.data, "--qk-gain", str(args.qk_gain), *(["--smoke"] if args.smoke else [])]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=budget, capture_output=True, text=True)
        tail = (proc.stdout + proc.stderr)[-2000:]
        status = "ok" if proc.returncode == 0 and result.is_file() else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired as err:
        tail = ((err.stdout or b"") + (err.stderr or b"")).decode(errors="replace")[-2000:]
        status = f"timed out after {budget:.0f} s"
    seconds = round(time.perf_counter() - start, 1)
    summary = json.loads(result.read_text()) if status == "ok" else {}
    print(f"[{part}] {status} in {seconds} s", flush=True)
    if status != "ok":
        print(tail, flush=True)
    return {"status": status, "seconds": seconds, "summary": summary, "tail": tail if status != "ok" else ""}


def print_summary(outcomes: dict) -> None:
    print("\n| part | status | seconds | figures |\n|---|---|---|---|")
    for part, o in outcomes.items():
        print(f"| {part} | {o['status']} | {o['seconds']} | {json.dumps(o['summary'], default=str)[:600]} |")
    print(f"targets: {json.dumps(TARGETS)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="where the records go ($OUT on the device machine)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="DAVIS-2016 root (JPEGImages/480p/CLIP)")
    p.add_argument("--qk-gain", type=float, help="scale of the random checkpoint's ST q/k rows (default: the "
                   "sizes' own, 6 on the GPU)")
    p.add_argument("--smoke", action="store_true", help="the same code on a CPU at tiny sizes (CI)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.qk_gain = args.qk_gain or sizes(args)["qk_gain"]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.part:  # a child: one part, its summary to WORK/PART.result.json
        summary = HANDLERS[args.part](args)
        (Path(args.work) / f"{args.part}.result.json").write_text(json.dumps(summary, default=str))
        return 0
    if not args.smoke and not torch.cuda.is_available():
        print("device_suite: no CUDA device here; run it on the GPU machine, or --smoke on a CPU", file=sys.stderr)
        return 2
    budgets = SMOKE_BUDGET_S if args.smoke else BUDGET_S
    outcomes = {}
    with tempfile.TemporaryDirectory(prefix="attnseg-suite-") as work:
        args.work = work
        for part in args.parts:
            outcomes[part] = run_part(args, part, budgets[part])
    write_record(f"device_suite_{slug(args)}", {"parts": args.parts, "smoke": args.smoke, "budgets_s": budgets,
                                                "targets": TARGETS, "qk_gain": args.qk_gain}, outcomes, args.out)
    print_summary(outcomes)
    return 0 if all(o["status"] == "ok" for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
