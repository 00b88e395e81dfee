"""Every Triton launch of the engine compiles for sm_90 (H100/H200) and sm_80 (A100) on this CPU.

Triton compiles for a GPU without one (its wheel ships ptxas), so what would fail at the first launch
on the GPU fails here: a compile error, a tile asking for more shared memory than a block may use, a
hot loop spilling registers, an offset computed in 32 bits. The limits and why are in
attnseg.kernels.compile_check. The record of the same check is benchmarks/kernels_compile.py's.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")
pytest.importorskip("triton.backends.nvidia", reason="this Triton has no NVIDIA backend")

from attnseg.kernels import compile_check as cc  # noqa: E402

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


# Under TRITON_INTERPRET (which conftest sets on a CPU) kernels are interpreted, never compiled: the
# compiles run in a child process without it.
BIG_TILE = """
import json, sys
from attnseg.kernels import compile_check as cc
from attnseg.kernels.launch import Launch
launch = next(la for la in cc.shape_launches(cc.engine_shapes()[0], "ieee") if la.name == "_within_tau_kernel")
big = Launch(launch.kernel, launch.grid, launch.args, {**launch.meta, "BLOCK": 128, "BLOCK_K": 64})
row = cc.compile_launch(big, "sm_90")
json.dump({"row": row, "problems": cc.problems(row)}, open(sys.argv[1], "w"))
"""


def compiled(tmp_path: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, *args, str(out)], env=env, capture_output=True, text=True, timeout=1200)
    assert out.is_file(), proc.stdout + proc.stderr
    return json.loads(out.read_text())


def all_kernels() -> set[str]:
    """Every @triton.jit kernel of attnseg.kernels (helpers called from kernels are not launched)."""
    names = set()
    for module in ("affinity", "kl", "merge", "certified_kl"):
        mod = importlib.import_module(f"attnseg.kernels.{module}")
        names |= {name for name, obj in vars(mod).items() if name.endswith("_kernel") and hasattr(obj, "fn")}
    return names


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    result = compiled(tmp_path_factory.mktemp("compile"), "-m", "attnseg.kernels.compile_check", "--json")
    return result["rows"], result["problems"]


def test_the_recorded_launches_cover_every_kernel_and_precision():
    launches = cc.engine_launches()
    assert {launch.name for _, _, launch in launches} == all_kernels()
    precisions = {launch.meta.get("PRECISION") for _, _, launch in launches} - {None}
    assert precisions == {"ieee", "tf32", "tf32x3", "bf16", "bf16x3"}  # the last three: the certified kernels
    for _, _, launch in launches:  # every launch states its options: what is compiled here is what runs
        assert {"num_warps", "num_stages"} <= launch.meta.keys(), launch.name


def test_every_engine_launch_compiles_for_hopper_and_ampere_within_limits(checked):
    rows, problems = checked
    assert not problems, "\n".join(problems)
    assert {r["target"] for r in rows} == set(cc.TARGETS)
    for r in rows:
        assert "error" not in r
        assert 0 < r["registers"] <= cc.MAX_REGISTERS
        assert r["shared_bytes"] <= cc.TARGETS[r["target"]].shared_limit
        if r["kernel"] in cc.HOT:
            assert r["stack_bytes"] == r["local_stores"] == r["local_loads"] == r["int32_multiplies"] == 0, r
    # Triton specializes sizes divisible by 16 and sizes of 1: the shapes reach each variant
    within = [r for r in rows if r["kernel"] == "_within_tau_kernel" and r["target"] == "sm_90"]
    assert len({tuple(r["specialized"]) for r in within}) >= 3


def test_an_over_large_tile_is_caught_before_the_gpu(tmp_path):
    """128 x 128 tiles over 64 columns ask for 256 KiB of shared memory: more than the 227 KiB a Hopper
    block may use. It compiles; only the launch would fail, on the GPU. The check says so here."""
    result = compiled(tmp_path, "-c", BIG_TILE)
    assert result["row"]["shared_bytes"] > cc.TARGETS["sm_90"].shared_limit
    assert any("shared memory" in p for p in result["problems"])


def test_problems_name_spills_wide_offsets_and_errors():
    base = {"kernel": "_within_tau_kernel", "target": "sm_80", "constexprs": {}, "num_warps": 4,
            "num_stages": 3, "shared_bytes": 1024, "registers": 96, "stack_bytes": 0, "local_stores": 0,
            "local_loads": 0, "int32_multiplies": 0}
    assert cc.problems(base) == []
    assert "spills" in cc.problems({**base, "stack_bytes": 8, "local_stores": 1})[0]
    assert "32-bit" in cc.problems({**base, "int32_multiplies": 2})[0]
    assert cc.problems({**base, "kernel": "_choose_leaders_kernel", "stack_bytes": 8}) == []  # not hot
    assert "does not compile" in cc.problems({**base, "error": "CompilationError: boom"})[0]


def test_int32_multiplies_are_read_from_the_ir():
    ttir = ("%1 = arith.muli %rows, %m : tensor<32x1xi32> loc(#loc1)\n"
            "%2 = arith.muli %rows64, %m64 : tensor<32x1xi64> loc(#loc2)\n"
            "%3 = arith.muli %a, %b : i32 loc(#loc3)\n")
    assert cc.int32_multiplies(ttir) == 2


def test_committed_records_cover_todays_launches(checked):
    """The records of both Tritons (CI's and the GPU machine's 3.6) hold every configuration launched today."""
    rows, _ = checked

    def configs(rs):
        return {(r["target"], r["kernel"], json.dumps(r["constexprs"], sort_keys=True), r["num_warps"],
                 r["num_stages"]) for r in rs}

    records = sorted(RESULTS.glob("compile_kernels_triton*.json"))
    versions = {json.loads(p.read_text())["settings"]["triton"] for p in records}
    assert any(v.startswith("3.6") for v in versions), "no record of the GPU machine's Triton 3.6"
    for path in records:
        record = json.loads(path.read_text())
        assert record["figures"]["problems"] == [], path.name
        assert configs(rows) <= configs(record["figures"]["kernels"]), f"{path.name} is stale: rerun " \
            "benchmarks/kernels_compile.py"
