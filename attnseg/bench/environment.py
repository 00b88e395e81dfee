"""What attnseg finds on this machine, and what its `auto` choices would be here and why (`attnseg info`).

    report = environment()          # {"machine", "versions", "choices", "cache"}: JSON values
    print(describe(report))         # the same as text

Nothing is measured here but the certified path's product precision on an AVX-512 CPU (a probe of about a
second, as a run with `--kernels certified` would make; AVX2 is never probed). The backend and kernel choices are
read from the measurements earlier runs remembered in the cache ($ATTNSEG_CACHE/backend_auto.json,
kernels_auto.json); a choice not measured yet is said to be measured at the first run that needs it.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from .._version import __version__
from ..optional import importable, installed_version
from .records import cpu_model

# package -> distribution whose version is reported (None: the module's own __version__)
PACKAGES = {"torch": "torch", "triton": "triton", "onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime-gpu",
            "onnx": "onnx", "tensorrt": "tensorrt", "numpy": "numpy", "opencv": "opencv-python-headless",
            "supervision": "supervision", "pycocotools": "pycocotools", "pyzmq": "pyzmq", "ray": "ray",
            "rosbags": "rosbags", "rclpy": "ros-rclpy", "aiohttp": "aiohttp"}
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "fma")


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in CPU_FLAGS if f in have]
    except OSError:
        pass
    return []


def _memory_gib() -> dict:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return {k: round(int(fields[name].split()[0]) / 2**20, 1) for k, name in
                (("total_gib", "MemTotal"), ("available_gib", "MemAvailable"))}
    except (OSError, KeyError, ValueError):
        return {"total_gib": None, "available_gib": None}


def machine() -> dict:
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"name": p.name, "compute_capability": f"{p.major}.{p.minor}",
                         "memory_gib": round(p.total_memory / 2**30, 1)})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_flags": _cpu_flags(),
            "cores": os.cpu_count(), "cores_usable": cores, "torch_threads": torch.get_num_threads(),
            "memory": _memory_gib(), "gpus": gpus, "platform": platform.platform(),
            "python": platform.python_version()}


def versions() -> dict:
    found = {"attnseg": __version__, **{name: installed_version(dist) for name, dist in PACKAGES.items()}}
    found["cuda"] = torch.version.cuda  # the CUDA torch was built with (None: a CPU build)
    if importable("onnxruntime"):
        import onnxruntime

        found["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return found


def _remembered(path: Path, matches) -> list[dict]:
    """The measurements in `path` whose key `matches`: key, choice and seconds each."""
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    found = []
    for key, entry in known.items():
        try:
            parsed = json.loads(key)
        except ValueError:
            continue
        if isinstance(entry, dict) and matches(parsed):
            found.append({"key": parsed, "choice": entry.get("choice"), "seconds": entry.get("seconds")})
    return found


def choices() -> dict:
    """What device, backend, kernels and certified precision `auto` would give here, and why."""
    from ..engine.backends import auto_choices_path, host_key, onnx_missing
    from ..kernels.dispatch import fast_product, triton_unavailable

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    out = {"device": {"choice": device.type, "why": "a CUDA device is present" if cuda else "no CUDA device"}}

    # backend: what attnseg.engine.backends._auto does on this device
    missing, here = onnx_missing(), host_key()
    measured = _remembered(auto_choices_path(), lambda k: all(k.get(f) == v for f, v in here.items()))
    if cuda:
        backend = {"choice": "eager", "why": "no faster exact front-end has been measured on a GPU yet"}
    elif missing:
        backend = {"choice": "eager", "why": f"{', '.join(missing)} not installed (pip install 'attnseg[export]')"}
    else:
        backend = {"choice": "eager or onnxruntime", "why": "timed once per model, input size and batch on this CPU "
                   "at the first run of each, then remembered in the cache"}
    backend["measured"] = [{"arch": m["key"].get("arch"), "resolution": m["key"].get("resolution"),
                            "batch": m["key"].get("batch"), "choice": m["choice"], "seconds": m["seconds"]}
                           for m in measured]
    out["backend"] = backend

    # kernels: attnseg.kernels.dispatch.resolve for "auto"
    reason = triton_unavailable(device) if cuda else None
    if cuda and reason is None:
        gpu = torch.cuda.get_device_name(device)
        import triton

        seen = _remembered(Path(auto_choices_path()).parent / "kernels_auto.json",
                           lambda k: k.get("device") == gpu and k.get("triton") == triton.__version__)
        kernels = {"choice": seen[0]["choice"] if seen else "measured at the first run",
                   "why": "the fastest of torch, triton and certified on one window, measured once per GPU",
                   "measured": seen}
    elif cuda:
        kernels = {"choice": "torch", "why": reason}
    else:
        kernels = {"choice": "torch", "why": "on a CPU auto runs the PyTorch reference (why: attnseg.kernels.dispatch, "
                                             "records certified_cpu_*)"}
    kernels["triton"] = triton_unavailable(device) or "available"
    out["kernels"] = kernels

    capability = torch.backends.cpu.get_cpu_capability()
    product = fast_product(device)
    out["certified_products"] = {
        "choice": product,
        "why": "bf16 tensor cores" if cuda else
        ("bf16 products measured at least twice as fast as fp32" if product == "bf16" else
         "bf16 measured less than twice as fast as fp32" if "AVX512" in capability else
         f"{capability}: bf16 runs in a scalar fallback here, so it is not even probed")}
    return out


def cache() -> dict:
    from ..model.weights import DINO_URLS, cache_dir, cached_dino_path

    root = cache_dir()
    found = {arch: cached_dino_path(arch) for arch in DINO_URLS if cached_dino_path(arch).is_file()}
    weights = {arch: {"path": str(path), "mb": round(path.stat().st_size / 2**20, 1)} for arch, path in found.items()}
    artifacts = sorted((root / "artifacts").glob("*")) if (root / "artifacts").is_dir() else []
    return {"dir": str(root), "dino_weights": weights,
            "dino_weights_missing": [a for a in DINO_URLS if a not in weights],
            "exported_front_ends": len([e for e in artifacts if not e.name.endswith((".data", ".meta.json"))]),
            "exported_mb": round(sum(e.stat().st_size for e in artifacts if e.is_file()) / 2**20, 1)}


def environment() -> dict:
    return {"machine": machine(), "versions": versions(), "choices": choices(), "cache": cache()}


def describe(report: dict) -> str:
    """The report as text: a section each, a line per finding."""
    m, v, c, k = report["machine"], report["versions"], report["choices"], report["cache"]
    gpus = "; ".join(f"{g['name']} (compute capability {g['compute_capability']}, {g['memory_gib']} GiB)"
                     for g in m["gpus"]) or "none (no CUDA device)"
    lines = ["machine",
             f"  cpu            {m['cpu']}",
             f"  instructions   {m['cpu_capability']} (flags: {', '.join(m['cpu_flags']) or 'unknown'})",
             f"  cores          {m['cores']} ({m['cores_usable']} usable, torch uses {m['torch_threads']} threads)",
             f"  memory         {m['memory']['total_gib']} GiB ({m['memory']['available_gib']} GiB available)",
             f"  gpu            {gpus}",
             f"  platform       {m['platform']}, Python {m['python']}",
             "versions"]
    width = max(len(name) for name in v)
    lines += [f"  {name:<{width}}  {value if value is not None else 'not installed'}"
              for name, value in v.items() if not isinstance(value, list) and name != "cuda"]
    lines.append(f"  {'cuda':<{width}}  {v['cuda'] or 'none (a CPU build of torch)'}")
    if "onnxruntime_providers" in v:
        lines.append(f"  {'':<{width}}  onnxruntime providers: {', '.join(v['onnxruntime_providers'])}")
    lines.append("what auto would choose here")
    for name in ("device", "backend", "kernels", "certified_products"):
        lines.append(f"  {name.replace('_', ' '):<18} {c[name]['choice']}: {c[name]['why']}")
        if name == "backend":
            lines += [f"  {'':<18}   {m['arch']} {m['resolution'][0]}x{m['resolution'][1]} batch {m['batch']}: "
                      f"{m['choice']} (" + ", ".join(f"{b} {1e3 * t:.0f} ms" for b, t in (m["seconds"] or {}).items())
                      + ")" for m in c["backend"]["measured"]]
    lines.append(f"  {'triton':<18} {c['kernels']['triton']}")
    lines.append(f"cache ({k['dir']})")
    lines += [f"  DINO {arch}: {w['path']} ({w['mb']} MB)" for arch, w in k["dino_weights"].items()]
    if k["dino_weights_missing"]:
        lines.append(f"  DINO weights not cached: {', '.join(k['dino_weights_missing'])} (downloaded on first use)")
    lines.append(f"  exported front-ends: {k['exported_front_ends']} ({k['exported_mb']} MB)")
    return "\n".join(lines)
