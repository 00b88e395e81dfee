"""The results page's sections, one renderer per kind of record (benchmarks/report.py assembles them).

Each renderer takes the records of its kind and returns markdown lines: a heading, what the numbers are, and a
table with the machine and the commit of every row. Each formats its own figures: the shapes are alike, the
columns are not.
"""
from __future__ import annotations

from pathlib import Path

STAGES = ["decode", "preprocess", "backbone", "affinity", "clustering", "tracking", "upsample", "output"]


def machine_label(record: dict) -> str:
    m = record.get("machine", {})
    where = m.get("gpu") or f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores)"
    return f"{where}, torch {m.get('torch', '?')}"

def commit_cell(record: dict) -> str:
    commit = record.get("commit", "unknown")
    return commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")

def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines

def section(title: str, text: list[str], header: list[str], rows: list[list]) -> list[str]:
    """A section of the page: its heading, what its numbers are (`text`, lines), and its table."""
    return [f"### {title}", "", *text, *([""] if text else []), *table(header, rows), ""]

def number(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"

def config_cell(record: dict) -> str:
    s = record["settings"]
    h, w = s["resolution"]
    return f"{s['device']} {s['backend']}/{s['kernels']} {s['arch']} {h}x{w} b{s['batch_size']}"

def stage_p50(figures: dict, stage: str) -> float | None:
    return figures["seconds"].get(stage, {}).get("p50")

def latency_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f = r["figures"]
        io = sum(stage_p50(f, s) or 0.0 for s in ("decode", "preprocess", "upsample", "output"))
        rows.append([config_cell(r), machine_label(r), r["settings"]["clip"], number(f["end_to_end_seconds"]["p50"]),
                     number(f["end_to_end_seconds"]["p90"]), number(f["fps"]), number(stage_p50(f, "backbone")),
                     number(stage_p50(f, "affinity")), number(stage_p50(f, "clustering")), number(io), f.get("clusters", "-"),
                     number(f.get("peak_device_mib", f["peak_host_mib"]), 0), number(f["parity_vs_reference"], 4),
                     commit_cell(r)])
    header = ["Config", "Machine", "Clip", "End to end p50 (s)", "p90 (s)", "FPS", "Front-end (s)",
              "Affinity (s)", "Clustering (s)", "Decode+pre+output (s)", "Clusters", "Peak MiB",
              "Parity", "Commit"]
    return section("Latency suite (`attnseg bench`)", [
            "p50 of the timed runs after warm-up; stage columns are p50 seconds per clip. Peak MiB: device",
            "memory on a GPU, growth of host RSS on a CPU. Parity: share of tokens labelled as the plain",
            "reference pipeline labels them, same clip."], header, rows)

def cost_section(records: list[dict]) -> list[str]:
    rows, peaks = [], {}
    for r in records:
        model = r["figures"].get("cost_model")
        if not model:
            continue
        peaks[machine_label(r)] = r["figures"]["peaks"]
        for stage in [s for s in STAGES if s in model]:
            c = model[stage]
            rows.append([config_cell(r), stage, number(c["gflops"], 1), number(c["gbytes"], 2),
                         number(c["achieved_gflops_per_s"], 1), number(c["achieved_gbytes_per_s"], 1), c["bound"],
                         number(c["fraction_of_peak"], 2)])
    if not rows:
        return []
    lines = ["### Cost model: each stage as a fraction of the machine's measured peak", "",
             "FLOPs are matrix FLOPs counted from the operations run; bytes are what each unfused operation",
             "reads and writes. Fraction = max(FLOPs / fp32 matmul peak, bytes / copy bandwidth) / measured p50.",
             "Measured peaks:"]
    for machine, p in peaks.items():
        lines.append(f"- {machine}: fp32 matmul {p['fp32_matmul_gflops']} GFLOP/s, bf16 matmul "
                     f"{p['bf16_matmul_gflops']} GFLOP/s, copy {p['copy_gbps']} GB/s")
    header = ["Config", "Stage", "GFLOP", "GB", "GFLOP/s", "GB/s", "Bound", "Fraction of peak"]
    return [*lines, "", *table(header, rows), ""]

def compare_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f = r["figures"]
        up = f["speedup_p50"]
        rows.append([config_cell(r), machine_label(r), r["settings"]["clip"], number(f["reference"]["end_to_end_seconds"]["p50"]),
                     number(f["engine"]["end_to_end_seconds"]["p50"]), number(up["end_to_end"]) + "x",
                     number(up.get("backbone")) + "x", number(up.get("clustering")) + "x", number(f["label_agreement"], 4),
                     commit_cell(r)])
    header = ["Engine config", "Machine", "Clip", "Reference p50 (s)", "Engine p50 (s)", "Speed-up", "Front-end",
              "Clustering", "Labels agree", "Commit"]
    return section("Reference pipeline vs engine (`attnseg bench --compare`)", [
            "Both on the same clip in one process; the reference is the eager front-end with attnseg.model's",
            "clustering. An eager/torch row times the reference against itself: its ratio is the run-to-run noise."], header, rows)

def authors_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f, s = r["figures"], r["settings"]
        h, w = s["resolution"]
        machine = machine_label(r) + (f", {s['cpu_capability']}" if "cpu_capability" in s else "")
        front_end = s.get("backend", "eager") + (f" {s['precision']}" if s.get("precision", "fp32") != "fp32" else "")
        ceiling = f.get("ceiling", {})
        rows.append([r["benchmark"], machine, front_end, s.get("kernels", "torch"), f"{f['frames']} frames {h}x{w}",
                     f"{f['clusters_ours']}/{f['clusters_theirs']}",
                     f"{100 * f['agreement']:.2f}%", number(f["ours_attention_clustering"]),
                     number(f["theirs_seconds"]["attention_clustering"]), number(f["speedup_attention_clustering"], 1) + "x",
                     number(f["speedup_backbone"], 1) + "x", number(f["speedup_pipeline"], 1) + "x",
                     _ceiling(ceiling, "attention_clustering"), _ceiling(ceiling, "pipeline"), commit_cell(r)])
    header = ["Record", "Machine", "Our front-end", "Clustering", "Input", "Clusters (ours/theirs)", "Token agreement",
              "Attention+clustering ours (s)", "theirs (s)", "Speed-up", "Backbone", "Pipeline",
              "fp32 ceiling: attention+clustering", "fp32 ceiling: pipeline", "Commit"]
    return ["### Against the authors' released code (`benchmarks/vs_authors.py`)", "",
            "Per record: same frames, same checkpoint, same machine, both sides run one after the other.",
            "The fp32 ceilings are the speed-ups at this machine's measured fp32 matmul peak for every matrix FLOP",
            "of the run: no fp32 implementation of this arithmetic can pass them. Marked *: elementwise work free",
            "(the records before the exp/log rates were measured); otherwise every exp and log is charged at the",
            "host's measured rate (table below).", "",
            *table(header, rows), "", *authors_stages(records)]


def authors_stages(records: list[dict]) -> list[str]:
    """Each stage's measured time against its ceiling (matrix FLOPs at the fp32 peak plus exps and logs at
    the measured rates), for the records that counted them."""
    rows = []
    for r in records:
        ceiling = r["figures"].get("ceiling", {})
        if "stages" not in ceiling:
            continue
        peaks = ceiling["peaks"]
        rates = (f"{peaks['fp32_matmul_gflops']:.0f} GFLOP/s, exp {peaks['exp_gelems']:.2f} / "
                 f"log {peaks['log_gelems']:.2f} G/s")
        for stage, c in ceiling["stages"].items():
            if stage == "preprocess":
                continue
            rows.append([r["benchmark"], stage, number(c["matrix_gflops"], 1), number(c["gexp"], 3), number(c["glog"], 3),
                         number(c["seconds"]), number(c["seconds_at_peak"]),
                         "-" if c["fraction_of_ceiling"] is None else f"{100 * c['fraction_of_ceiling']:.0f}%", rates])
        for part in ("attention_clustering", "pipeline"):
            p = ceiling["parts"][part]
            literal = p.get("literal_matrix_gflops")
            rows.append([r["benchmark"], part.replace("_", " + ") + (f" (authors: {literal:.0f} GFLOP)"
                                                                     if literal is not None else ""),
                         number(p["matrix_gflops"], 1), "", "", number(p["seconds"]), number(p["seconds_at_fp32_peak"]),
                         f"{100 * p['fraction_of_ceiling']:.0f}%", rates])
    if not rows:
        return []
    header = ["Record", "Stage", "Matrix GFLOP", "G exp", "G log", "Measured (s)", "Ceiling (s)",
              "Ceiling / measured", "Peaks measured in the run"]
    return ["Per stage, ours against its ceiling:", "", *table(header, rows), ""]

def _ceiling(ceiling: dict, part: str) -> str:
    value = ceiling.get(f"speedup_{part}_at_fp32_peak")
    return "-" if value is None else number(value, 1) + "x" + ("" if "stages" in ceiling else "*")

def stages_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f, s = r["figures"], r["settings"]
        h, w = s["resolution"]
        sec = f["seconds"]
        rows.append([r["benchmark"], machine_label(r), f"{f['frames']} frames {h}x{w}", number(sec.get("backbone")),
                     number(sec.get("affinity")), number(sec.get("clustering")), number(sec["total"]), number(f["fps_total"], 3),
                     commit_cell(r)])
    header = ["Record", "Machine", "Input", "Front-end (s)", "Affinity (s)", "Clustering (s)", "Total (s)", "FPS",
              "Commit"]
    return section("Single runs per stage (`benchmarks/stage_times.py`)", [], header, rows)

def crosscheck_section(records: list[dict]) -> list[str]:
    rows = [[r["benchmark"], r["figures"]["pairs_compared"], r["figures"]["max_abs_diff_J"],
             r["figures"]["max_abs_diff_F"], commit_cell(r)] for r in records]
    return ["### `attnseg eval` against the DAVIS toolkit (`benchmarks/eval_crosscheck.py`)", "",
            *table(["Record", "(proposal, object, frame) pairs", "max abs J difference", "max abs F difference", "Commit"], rows), ""]

def long_video_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        h, w = s["resolution"]
        for length, run in sorted(r["figures"]["runs"].items(), key=lambda kv: int(kv[0])):
            fps = run["fps_chunks"]
            rows.append([r["benchmark"], machine_label(r) + f", {r['machine'].get('cpu_capability', '?')}",
                         f"{run['frames']} frames 1080p -> {s['arch']} {h}x{w}", f"{run['chunks']} x {run['chunk_frames']}",
                         number(run["wall_s"] / 60, 1), number(run["fps"]), f"{number(fps['first_tenth'])} / {number(fps['last_tenth'])}",
                         number(run["peak_rss_mb"], 0), f"{number(run['rss_mb']['second_tenth'], 0)} / "
                         f"{number(run['rss_mb']['last_tenth'], 0)}", run["ids"], commit_cell(r)])
    header = ["Record", "Machine", "Input", "Chunks", "Wall (min)", "FPS (whole run)",
              "Chunk FPS first / last tenth", "Peak RSS (MB)", "RSS second / last tenth (MB)", "Object ids", "Commit"]
    return section("Videos of any length through `attnseg segment` (`benchmarks/long_video.py`)", [
            "Generated 1920x1080 videos, label PNGs and .npy labels written as each chunk finishes. Peak RSS from",
            "wait4; RSS sampled every 0.25 s; frames/s per chunk from `--chunk-log` (decoding to labels, writing",
            "excluded); the whole-run FPS includes everything: start-up, writing the PNGs and the .npy."], header, rows)

def chunked_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f = r["figures"]
        for name, clip in f["clips"].items():
            for chunk in r["settings"]["chunks"]:
                figures = clip[f"chunk{chunk}"]
                linked, unlinked = figures["linked"], figures["unlinked"]
                rows.append([name, clip["frames"], f"{clip['clusters']} (q/k gain {clip['qk_gain']:g})", chunk,
                             f"{100 * figures['token_agreement_within_chunks']:.1f}%",
                             f"{100 * linked['token_agreement']:.1f}% / {100 * unlinked['token_agreement']:.1f}%",
                             f"{linked['mean_iou']:.3f} / {unlinked['mean_iou']:.3f}",
                             f"{linked['id_switches_per_100_frames']:.0f} / {unlinked['id_switches_per_100_frames']:.0f}",
                             "yes" if clip["covering_chunk_identical"] else "**no**", commit_cell(r)])
    header = ["Clip", "Frames", "Clusters (single piece)", "Chunk", "Token agreement within chunks",
              "Token agreement over the clip linked / unlinked",
              "Mean IoU linked / unlinked", "Id switches per 100 frames linked / unlinked", "Covering chunk identical",
              "Commit"]
    s = records[0]["settings"]
    h, w = s["resolution"]
    return section("Chunked against the single piece on DAVIS clips (`benchmarks/chunked_vs_single.py`)", [
            f"{s['arch']} at {h}x{w}, {s['weights']}; {machine_label(records[0])}. Against the paper's single piece",
            "of each clip: chunks with ids linked across chunks, and the same chunks without linking. Within chunks:",
            "ids matched chunk by chunk, the most any linking can keep over the clip."], header, rows)

def certified_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        for g in r["figures"]["gains"]:
            for name, c in g["certified"].items():
                rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", f"x{g['qk_gain']:g}",
                             g["clusters"], number(g["reference_seconds"]), name, number(c["seconds"]),
                             number(c["speedup_vs_reference"]), "yes" if c["labels_equal"] else "**no**",
                             f"{100 * c['recomputed_fraction']:.3f}%", f"{100 * c['recompute_time_share']:.0f}%",
                             c["fp32_ties_per_run"], commit_cell(r)])
    header = ["Record", "Machine", "q/k gain", "Clusters", "Reference (s)", "Products", "Certified (s)",
              "x reference", "Labels equal", "Decisions recomputed", "Time recomputing", "fp32 ties", "Commit"]
    s = records[0]["settings"]
    h, w = s["resolution"]
    return section("Certified clustering against the reference (`benchmarks/certified.py`)", [
            f"{s['arch']} at {h}x{w}, {s['frames']} frames of {Path(s['frames_dir']).name}, {s['weights']}; the",
            "clustering alone (cluster_video on the same q, k), median of the timed runs after a warm-up window.",
            f"`--kernels certified` here multiplies in {s['certified_product_here']} (measured probe).",
            "fp32 ties: recomputed decisions within the fp32 reference's worst-case rounding of tau, where an fp32",
            "evaluation could decide either way."], header, rows)

def ros2_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        h, w = s["resolution"]
        for rate, f in r["figures"].items():
            if not rate.endswith("Hz"):  # the front-end's own rate, beside the rates
                continue
            ros, bridge, transport = f["ros"], f["bridge"], f["transport"]
            lat = lambda x: f"{number(x['latency_ms']['p50'], 0)} / {number(x['latency_ms']['p99'], 0)}"  # noqa: E731
            modes = [("default", ros)] + ([("paper windows, nothing carried", f["ros_paper_windows"])]
                                         if "ros_paper_windows" in f else [])
            for mode, run in modes:
                node = run["node"]
                rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", f"{s['arch']} {h}x{w}",
                             rate, mode, run["published"], node.get("frames_processed", "-"),
                             node.get("frames_carried", 0),
                             node.get("frames_dropped", 0) - node.get("frames_stale", 0), node.get("frames_stale", "-"),
                             lat(run), "-" if mode != "default" else lat(bridge),
                             "-" if mode != "default" else number(f["ros_cost_ms"].get("p50"), 0),
                             f"{number(transport['node_profile']['latency_ms']['p50'], 1)} ms, "
                             f"{transport['node_profile']['received']}/{transport['node_profile']['published']}",
                             f"{transport['fastdds_defaults']['received']}/{transport['fastdds_defaults']['published']}",
                             commit_cell(r)])
    header = ["Record", "Machine", "Model", "Rate", "Node's mode", "Frames published", "Segmented", "Carried",
              "Dropped (busy)", "Stale", "Stamp to labels p50 / p99 (ms)", "Bridge alone p50 / p99 (ms)",
              "ROS cost p50 (ms)", "Image transport p50, delivered", "Delivered with Fast DDS defaults", "Commit"]
    s = records[0]["settings"]
    return section("The ROS 2 node (`benchmarks/ros2_latency.py`)", [
            f"`attnseg-ros2` as its own process, {s['frames']} frames at {s['frame_size'][0]}x{s['frame_size'][1]} "
            f"{s['encoding']} published best effort with the current time as header stamp; latency = labels'",
            "arrival (on `labels` or `carried_labels`) - stamp, after a warm-up. The bridge alone is the node's work",
            "without ROS, in the same run; so is the node in the paper's fixed windows with nothing carried.",
            "Image transport: the same images between two processes without attnseg, with the node's Fast DDS",
            "profile, and how many arrive with Fast DDS's default transports (large best-effort images mostly lost)."], header, rows)


def pooled_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        capability = r.get("machine", {}).get("cpu_capability", "")
        for run, f in r["figures"].items():
            for group, p in f["pools"].items():
                a = f["assignment"]
                rows.append([run, machine_label(r) + f", {capability}", f["clusters"], group,
                             f"{100 * p['d1']['near_fraction']:.1f}%", f"{100 * p['d1']['entries_decided']:.1f}%",
                             f"{100 * p['d1']['tiles_decided']:.1f}%", f"{100 * p['d2']['entries_decided']:.1f}%",
                             f"{p['assign']['median_candidates']:g} ({100 * p['assign']['candidates_fraction']:.1f}%)",
                             f"{a['speedup']:g}x" if group == "4" else "", "yes" if a["labels_equal"] else "**no**",
                             commit_cell(r)])
    header = ["Clip / q/k gain", "Machine", "Clusters", "Columns pooled", "D1 pairs within tau", "D1 decided far",
              "D1 tiles decided whole", "D2 decided far", "Centroids left per row, median (of K)",
              "Pooled assignment x reference", "Labels equal", "Commit"]
    s = records[-1]["settings"]
    h, w = s["resolution"]
    return section("Pooled lower bounds (`benchmarks/pooled_bounds.py`)", [
            f"{s['arch']} at {h}x{w}, {s['frames']} frames, {s['weights']}; the first {s['windows']} windows of each",
            "clip. Decided: the pooled D proves the fp32 reference's D above tau (never a tie). Tiles: 240x240 blocks",
            "of D1 decided whole (what a dense product could skip). The pooled assignment (attnseg.kernels.pooled,",
            "groups of 4 columns) against the reference's, best of 3 each, labels compared."], header, rows)


def fidelity_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        h, w = s["resolution"]
        for case, f in r["figures"].items():
            reported = f["differing_tokens"]
            gaps = [t["gap_exact"] for t in reported if t["gap_exact"] is not None]
            rows.append([case, machine_label(r) + f", {s['cpu_capability']}", f"{f['frames']} frames {h}x{w}",
                         f"{f['clusters_ours']}/{f['clusters_theirs']}/{f['clusters_exact']}",
                         f"{100 * f['agreement']:.3f}%", f["tokens_differing"],
                         f"{f['ties_among_reported']} of {len(reported)}" if reported else "-",
                         f"{max(abs(g) for g in gaps):.1e}" if gaps else "-",
                         f"{100 * f['agreement_exact_vs_ours']:.3f}% / {100 * f['agreement_exact_vs_theirs']:.3f}%",
                         "-" if "centroids_max_abs_diff" not in f else
                         ("bit-equal" if f["centroids_bit_equal"] else f"{f['centroids_max_abs_diff']:.1e}"),
                         commit_cell(r)])
    header = ["Clip / checkpoint", "Machine", "Input", "Clusters ours / theirs / exact", "Token agreement",
              "Tokens differing", "Ties among them", "Largest exact gap", "Exact decisions agree with ours / theirs",
              "Final centroids, max |ours - theirs|", "Commit"]
    return section("Fidelity at the paper's resolution, divergences traced (`benchmarks/divergence.py`)", [
            "The authors' released code and ours on the same preprocessed frames and paper-format random checkpoint",
            "(q/k gain in the name). Exact: the same clustering with every decision certified as exact arithmetic on",
            "the same fp32 rows decides it. For each token whose label differs, the exact distances from its row to",
            "our centroid and the authors' choice: a tie when their gap is within the fp32 rounding bound of the two."], header, rows)


def frontend_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        if "variants" not in r["figures"]:
            continue  # frontend_labels_*: label parity, not speed
        s, f = r["settings"], r["figures"]
        h, w = s["resolution"]
        eager = {b: x["seconds_per_frame"]["p50"] for b, x in f["variants"].get("eager", {}).get("batches", {}).items()}
        for variant, v in f["variants"].items():
            if "unavailable" in v or "refused" in v:  # not installed; a precision this CPU lacks
                continue
            for batch, x in v["batches"].items():
                p50 = x["seconds_per_frame"]["p50"]
                bits = x.get("bit_equal_to_eager")
                rows.append([r["benchmark"], machine_label(r) + f", {r['machine'].get('cpu_capability', '?')}",
                             f"{s['arch']} {h}x{w}", variant, batch, number(1e3 * p50, 0),
                             number(eager[batch] / p50) + "x" if batch in eager else "-",
                             f"{100 * x['fraction_of_measured_peak']:.0f}%",
                             "yes" if bits else ("-" if bits is None else f"no ({x['max_rel_error_vs_eager']:.0e})"),
                             commit_cell(r)])
    if not rows:
        return []
    header = ["Record", "Machine", "Model", "Front-end", "Batch", "ms / frame (p50)", "x eager", "of fp32 peak",
              "Bit-equal to eager", "Commit"]
    return section("The front-end per backend and fused path (`benchmarks/frontend_backends.py`)", [
            "Random weights; every variant timed in the same run after warm-up; the fraction is the counted FLOPs",
            "per frame over the fp32 matmul peak measured in the run (a runtime with faster GEMMs than torch's may",
            "pass 100%). torchscript-onednn and inductor-freezing are measured here only (no backend offers them)."], header, rows)
