"""The sections of docs/results.md that a device run and the kernels' checks write: the Triton kernels against
their references, their compilation for the GPU targets, and the GPU suite's records (kernels_*, compile_*,
device_*). The shared table helpers are in sections.py."""
from __future__ import annotations


from .sections import commit_cell, machine_label, number, section, table


def kernels_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f = r["figures"]
        for name, impl in f["implementations"].items():
            sec = impl["seconds"]
            parity = impl.get("parity")
            rows.append([r["benchmark"], machine_label(r), f"{f['n']} x {f['m']}", name,
                         *(number(1e3 * sec[st]["p50"], 1) for st in ("affinity", "distances", "neighbours", "merge",
                                                                  "assignment", "total")),
                         number(impl["peak_mib"], 0), impl["centroids"],
                         number(impl["speedup_p50"]["total"]) + "x" if "speedup_p50" in impl else
                         ("not a speed (interpreter)" if name == "triton" and r["settings"].get("triton_interpret") == "1"
                          else "-"),
                         (f"D1 ties {parity['d1_disagreements']}, merge equal {parity['merge_labels_equal']}, "
                          f"assignment {parity['assignment_agreement']:.4f}") if parity else "reference",
                         commit_cell(r)])
    header = ["Record", "Machine", "n x m", "Kernels", "Affinity (ms)", "D1 threshold (ms)", "Neighbours (ms)",
              "Merge (ms)", "Assignment (ms)", "Window (ms)", "Peak MiB", "Centroids", "Speed-up", "Parity",
              "Commit"]
    return section("Clustering of one 3-frame window, per stage (`benchmarks/kernels_vs_reference.py`)", [], header, rows)

def compile_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        limits = r["settings"]["targets"]
        for target in sorted(limits, reverse=True):
            kernels = [k for k in r["figures"]["kernels"] if k["target"] == target and "error" not in k]
            hot = set(r["settings"]["hot_kernels"])
            spilling = sorted({k["kernel"] for k in kernels if k["kernel"] in hot and k["stack_bytes"]})
            rows.append([r["benchmark"], r["settings"]["triton"], f"{target} ({limits[target]['gpus']})",
                         len(kernels), f"{max(k['shared_bytes'] for k in kernels) // 1024} / "
                         f"{limits[target]['shared_limit'] // 1024}", max(k["registers"] for k in kernels),
                         ", ".join(spilling) or "none", len(r["figures"]["problems"]), commit_cell(r)])
    header = ["Record", "Triton", "Target", "Kernels compiled", "Max shared KiB / limit", "Max registers",
              "Hot kernels that spill", "Problems", "Commit"]
    return section("Every engine kernel compiled for the GPU, without one (`benchmarks/kernels_compile.py`)", [
            "Each Triton launch the engine makes (every kernel, precision, tile and specialization at the default",
            "shapes), compiled for Hopper and Ampere on a CPU; the test suite runs the same check."], header, rows)

def _ms(seconds: dict | None) -> str:
    return "-" if not seconds else number(1e3 * seconds["p50"], 2)

def _device_window(record: dict, targets: dict) -> list[str]:
    rows = []
    for shape, entry in record["figures"].items():
        for name, impl in entry["implementations"].items():
            sec, parity = impl["seconds"], impl.get("parity")
            fraction = impl.get("cost_model", {}).get("distances", {}).get("fraction_of_peak")
            rows.append([shape, f"{entry['n']} x {entry['m']}", name,
                         *(_ms(sec.get(st)) for st in ("affinity", "distances", "neighbours", "merge", "assignment",
                                                       "total")),
                         number(impl["peak_mib"], 0), impl["centroids"], number(fraction),
                         (f"D1 ties {parity['d1_disagreements']}, merge equal {parity['merge_labels_equal']}, "
                          f"assignment {parity['assignment_agreement']:.4f}") if parity else "reference",
                         f"{100 * impl['certificate']['recomputed_fraction']:.3f}%" if "certificate" in impl else ""])
    header = ["Window", "n x m", "Kernels", "Affinity (ms)", "D1 (ms)", "Neighbours (ms)", "Merge (ms)",
              "Assignment (ms)", "Window (ms)", "Peak MiB", "Clusters", "D1 fraction of peak", "Parity",
              "Recomputed (certified)"]
    return [f"Clustering of one 3-frame window (target <= {targets['window_ms']} ms at 320x480 with 8 key frames, "
            "labels equal to the fp32 reference):", "", *table(header, rows), ""]

def _device_frontend(record: dict, targets: dict) -> list[str]:
    f = record["figures"]
    batch = max(record["settings"]["batches"])
    rows = []
    for name, v in f["variants"].items():
        if "skipped" in v or "error" in v:
            rows.append([name, "-", "-", "-", "-", "-", v.get("skipped") or f"ERROR {v['error']}"])
            continue
        b1, bn = v["batch_1"], v[f"batch_{batch}"]
        rows.append([name, number(b1["ms_per_frame"]["p50"], 3), number(bn["frames_per_s"], 0), number(bn["fraction_of_peak"]),
                     f"{v['qk_relative_error']:.1e}", number(v["label_agreement"], 4), f"{v['clusters']} clusters"])
    s = record["settings"]
    header = ["Variant", "ms/frame, batch 1 (p50)", f"frames/s, batch {batch}", "Fraction of peak",
              "q, k error vs fp32", "Labels agree", "Note"]
    return [f"Front-end, {s['arch']} at {s['resolution'][0]}x{s['resolution'][1]} (targets <= "
            f"{targets['frontend_ms_batch1']} ms/frame at batch 1, >= {targets['frontend_fps_batched']} frames/s "
            f"batched; labels on {s['label_frames']} frames of DAVIS {f['clip']}):", "", *table(header, rows), ""]

def _device_streaming(record: dict, targets: dict) -> list[str]:
    f, s = record["figures"], record["settings"]
    rows = [[pace, number(st["fps"], 1), st["latency_ms"]["p50"], st["latency_ms"]["p95"], st["latency_ms"]["p99"],
             f"{st['frames_dropped']}/{st['frames_in']}", number(st.get("peak_device_mib"), 0)]
            for pace, st in f["paced"].items()]
    lines = [f"Live streaming, {s['arch']} at {s['resolution'][0]}x{s['resolution'][1]}, kernels {f['kernels']}, "
             f"DAVIS {f['clip']} paced as a camera (targets >= {targets['live_fps']} fps, p99 <= "
             f"{targets['live_p99_ms']} ms):", "",
             *table(["Pace", "fps", "p50 (ms)", "p95 (ms)", "p99 (ms)", "Dropped", "Peak MiB"], rows), ""]
    if "long" in f:
        long = f["long"]
        lines += [f"A {long['frames']}-frame stream: {number(long['first_quarter_ms'])} ms/frame in its first quarter, "
                  f"{number(long['last_quarter_ms'])} in its last; device memory grew by "
                  f"{number(long['device_mib_growth'], 1)} MiB.", ""]
    return lines

def device_section(records: list[dict]) -> list[str]:
    """The prepared GPU run, or a plain statement that nothing has been measured on a GPU."""
    records = [r for r in records if not r["settings"].get("smoke")]
    title = "### GPU (`benchmarks/device_suite.py`, see docs/gpu.md)"
    if not records:
        return [title, "", "Nothing is measured on a GPU yet: no session has had one. The kernels compile for",
                "sm_90 and sm_80 (above); every GPU speed, memory and latency figure is unmeasured.", ""]
    by_part = {r["benchmark"].split("_")[1]: r for r in records}
    suite = by_part.get("suite", {})
    targets = suite.get("settings", {}).get("targets", {"window_ms": 15.0, "frontend_ms_batch1": 1.0,
                                                         "frontend_fps_batched": 1500, "live_fps": 60,
                                                         "live_p99_ms": 50.0})
    machine = by_part.get("machine")
    lines = [title, ""]
    if machine:
        m, pk = machine["figures"], machine["figures"]["peaks"]
        lines += [f"{m.get('gpu', {}).get('name', '?')} ({m.get('nvidia_smi', '')}), torch {m['torch']}, CUDA "
                  f"{m['cuda']}, Triton {m['triton']}; measured peaks: fp32 {pk['fp32_matmul_gflops']} GFLOP/s, TF32 "
                  f"{pk.get('tf32_matmul_gflops', '-')}, bf16 {pk['bf16_matmul_gflops']}, copy {pk['copy_gbps']} GB/s. "
                  f"Commit {commit_cell(machine)}.", ""]
    if suite:
        lines += ["Parts: " + ", ".join(f"{part} {o['status']}" for part, o in suite["figures"].items()) + ".", ""]
    if "tests" in by_part:
        t = by_part["tests"]["figures"]
        lines += [f"Tests on the GPU: {t['counts']}" + (f"; failed: {', '.join(t['failed'])}" if t["failed"] else "")
                  + ".", ""]
    for part, render in (("window", _device_window), ("frontend", _device_frontend),
                         ("streaming", _device_streaming)):
        if part in by_part:
            lines += render(by_part[part], targets)
    if "offline" in by_part:
        o = by_part["offline"]["figures"]
        st = o["stats"]
        lines += [f"A whole DAVIS clip through `attnseg segment` ({o['clip']}, {st['frames']} frames, kernels "
                  f"{st['kernels']}): {number(st['total'])} s, {number(st['frames'] / st['total'], 1)} frames/s, "
                  f"{st['clusters']} clusters; labels equal to the reference kernels' on "
                  f"{100 * o['labels_equal_to_reference_kernels']:.2f}% of tokens.", ""]
    return lines
