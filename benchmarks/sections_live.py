"""The live sections of docs/results.md: the demo in a browser, the page's work, what causal windows and carried
frames cost in labels (records demo_latency_*, page_work_*, live_quality_*)."""
from __future__ import annotations

from .sections import commit_cell, machine_label, number, section, table


def demo_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        h, w = s["resolution"]
        for mode, f in r["figures"].items():
            if mode == "ratios":
                continue
            for run in f["runs"]:
                if "latency_ms" in run:  # a record of the page before paint reports: capture to mask only
                    rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", f"{s['arch']} {h}x{w}",
                                 mode, "-", "-", "-", number(run["latency_ms"]["p50"], 0), number(run["latency_ms"]["p99"], 0),
                                 number(run["fps"], 1), run["frames_segmented"], "-", run["frames_dropped"], commit_cell(r)])
                    continue
                shown = run.get("shown_fraction")
                rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", f"{s['arch']} {h}x{w}",
                             mode, "-" if shown is None else f"{100 * shown:.0f}%", number(run.get("display_p50"), 0),
                             number(run.get("display_p99"), 0), number(run.get("mask_p50"), 0), number(run.get("mask_p99"), 0),
                             number(run["fps"], 1), run["frames_segmented"], run.get("frames_carried", "-"),
                             run.get("frames_dropped", "-"), commit_cell(r)])
    header = ["Record", "Machine", "Model", "Mode", "Frames shown", "Capture to display p50 (ms)", "p99 (ms)",
              "Capture to mask p50 (ms)", "p99 (ms)", "Segmented fps", "Segmented", "Carried", "Dropped", "Commit"]
    s = records[-1]["settings"]
    return section("The live demo in a browser (`benchmarks/demo_latency.py`)", f"""\
`{s['command']}` on {s['source']}, {s['checkpoint']}; modes alternating. Frames shown: frames the
browser reported painted over the camera frames from its first paint to its last; capture to display:
from a frame's due time in the paced file to the page's paint report. Older records (no paint
reports) give capture to mask only.""".splitlines(), header, rows)


def page_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s = r["settings"]
        for grid, f in r["figures"].items():
            rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", grid, f["objects"],
                         number(f["now_ms"]["median"], 2), number(f["now_ms"]["p90"], 2), number(f["before_ms"]["median"], 1),
                         f"{f['speedup']:g}x", commit_cell(r)])
    header = ["Record", "Machine", "Grid labels", "Objects", "Page work now, median (ms)", "p90 (ms)",
              "Before, median (ms)", "Speed-up", "Commit"]
    s = records[-1]["settings"]
    return section("The live page's work per frame (`benchmarks/page_work.py`)", [
            f"A {s['frame'][0]}x{s['frame'][1]} frame with {s['objects']} objects: counting them, drawing the overlay",
            "and encoding its JPEG, from the grid labels (now) against the same work on the full-size map (before),",
            "one OpenCV thread, in one run."], header, rows)


def viewers_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        medians, ratios = r["figures"]["medians"], r["figures"]["fps_ratios"]
        capability = r.get("machine", {}).get("cpu_capability", "")
        for count in medians["now"]:
            for mode, by_count in medians.items():
                f = by_count[count]
                ratio = "1x" if mode == "now" else f"{ratios['now_over_' + mode][count]:g}x"
                rows.append([r["benchmark"], machine_label(r) + f", {capability}", count, mode, number(f["fps"], 1), ratio,
                             f"{number(f.get('display_p50_ms'), 0)} / {number(f.get('display_p99_ms'), 0)}",
                             number(f["viewer_frames"] / int(count), 0) if int(count) else "-",
                             f"{f['peak_threads']:.0f}",
                             f"{number(f.get('demo_cpu_s'), 0)} / {number(f.get('viewers_cpu_s'), 0)}", commit_cell(r)])
    header = ["Record", "Machine", "Viewers", "Server", "Segmented fps", "fps now / this server",
              "Capture to display p50 / p99 (ms)", "Frames each viewer got", "Peak threads of the demo",
              "CPU s: demo / viewers", "Commit"]
    s = records[-1]["settings"]
    before = ", ".join(f"{k} ({v})" for k, v in s["before"].items())
    return section("The page's viewers and the engine (`benchmarks/page_viewers.py`)", [
            f"`{s['demo']}`, a 30 fps camera for 20 s; each viewer a loop of what the page does (a frame long-polled,",
            f"its paint reported) and an events reader. Servers: {s['server']} against {before}; run in turn,",
            f"medians of {s['rounds']} rounds."], header, rows)


def live_quality_section(records: list[dict]) -> list[str]:
    out = []
    for r in records:
        s, f = r["settings"], r["figures"]
        if "causal" not in f:  # --carry-only: how far the page's preview carries
            carry = [[d, number(m["carried_J"], 3), number(m["copied_J"], 3)] for d, m in f["carry"]["mean"].items()]
            out += [f"### Carried labels over longer distances (`benchmarks/live_quality.py --carry-only`, "
                    f"`{r['benchmark']}`)", "", f"{machine_label(r)}, {s['cpu_capability']}, commit {commit_cell(r)}; "
                    f"{s['carry']}, on {', '.join(s['clips'])}; J of the foreground, mean over the clips:", "",
                    *table(["Carried to", "J carried by flow", "J copied unmoved"], carry), ""]
            continue
        rows = [[clip, c["frames"], f"{c['ids']['causal']} / {c['ids']['windows']} / {c['ids']['offline']}",
                 number(c["ids_per_window_median"], 0), number(c["causal_vs_windows"]["mean_iou"], 3),
                 number(c["causal_vs_offline"]["mean_iou"], 3), number(c["windows_vs_offline"]["mean_iou"], 3),
                 number(c["causal_vs_windows"]["id_switches_per_100_frames"], 1),
                 f"{number(c['clustering_ms_per_frame']['causal'], 1)} / {number(c['clustering_ms_per_frame']['windows'], 1)}"]
                for clip, c in f["causal"].items()]
        header = ["Clip", "Frames", "Ids causal / windows / offline", "Ids per window", "mIoU causal vs windows",
                  "causal vs offline", "windows vs offline", "Switches /100 frames (causal vs windows)",
                  "Clustering ms/frame causal / windows"]
        carry = [[d, number(m["carried_J"], 3), number(m["copied_J"], 3)] for d, m in f["carry"]["mean"].items()]
        out += ["### Causal windows and carried frames, in labels (`benchmarks/live_quality.py`)", "",
                f"{machine_label(r)}, {s['cpu_capability']}, commit {commit_cell(r)}. {s['arch']} at "
                f"{s['resolution'][0]}x{s['resolution'][1]}, {s['checkpoint']}, on {', '.join(s['clips'])}; patch-level",
                "labels of the same front-end output; mIoU after one id matching over each clip (attnseg.eval.ids).", "",
                *table(header, rows), "",
                f"Carrying ({s['carry']}), J of the foreground against the annotation there, mean over the clips:", "",
                *table(["Carried to", "J carried by flow", "J copied unmoved"], carry), ""]
    return out


def memory_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f, s = r["figures"], r["settings"]
        after = f["resident_mb_from_frame_1000"]
        rows.append([r["benchmark"], machine_label(r) + f", {s['cpu_capability']}", s["source"], f["frames_in"],
                     f["segmented"], f["carried"], f["dropped"], f"{after['min']:.0f}-{after['max']:.0f}",
                     number(after["growth"], 1), commit_cell(r)])
    header = ["Record", "Machine", "Source", "Frames", "Segmented", "Carried", "Dropped",
              "Resident MB from frame 1000", "Largest rise (MB)", "Commit"]
    return section("Memory of a live stream over 10,000 frames (`benchmarks/live_memory.py`)", [
            "The default live path (causal windows, carried frames, the page drawing every 5th frame for a viewer),",
            "resident memory sampled every 500 frames."], header, rows)


def rtsp_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        f, capability = r["figures"], r.get("machine", {}).get("cpu_capability", "")
        rows.append([r["benchmark"], machine_label(r) + f", {capability}", number(f["rtsp_fps"], 2), number(f["local_fps"], 2),
                     f"{f['fps_ratio_rtsp_to_local']:g}x", number(f["rtsp_written_p50_ms"], 0),
                     number(f["local_written_p50_ms"], 0), number(f["camera_to_capture_p50_ms"], 0),
                     number(f["camera_to_capture_p99_ms"], 0), number(f.get("first_frame_age_ms"), 0),
                     number(f["rtsp_adds_p50_ms"], 0), commit_cell(r)])
    header = ["Record", "Machine", "RTSP: segmented fps", "Local camera: fps", "RTSP / local", "RTSP: capture to "
              "written p50 (ms)", "Local: p50 (ms)", "Camera to capture p50 (ms)", "p99 (ms)", "First frame's age (ms)",
              "RTSP adds, p50 (ms)", "Commit"]
    s = records[-1]["settings"]
    return section("What an RTSP camera adds (`benchmarks/rtsp_latency.py`)", f"""\
`{s['command']}`: {s['frames']} as a {s['camera_fps']} fps camera, {s['seconds_per_run']} s per run, {s['repeats']} repeats alternating, medians; {s['model']}; {s['server']}. The first two columns and
the capture-to-written latencies are `attnseg stream`'s own (--stats-json), on the RTSP URL and on the
same frames as a local camera (an MJPEG file paced at 30 fps, dropping what waits). Camera to capture:
from the frame leaving the server's camera to FFmpeg handing it to attnseg, read off the frame's pixels
(steady state: from 2 s after the first frame; the first frame's age apart). RTSP adds: camera to
capture plus the difference in capture to written. The server's x264 runs on the same cores.""".splitlines(), header, rows)


def multisource_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        capability = r.get("machine", {}).get("cpu_capability", "")
        for count, f in r["figures"].items():
            one, sep = f["one_process"], f["separate_processes"]
            rows.append([r["benchmark"], machine_label(r) + f", {capability}", count.split("_")[0],
                         number(one["fps"], 2), number(sep["fps"], 2), f"{f['fps_ratio_one_to_separate']:g}x",
                         number(one["written_p50_ms"], 0), number(sep["written_p50_ms"], 0), number(one["written_p99_ms"], 0),
                         number(sep["written_p99_ms"], 0), f"{one['peak_rss_mb']:.0f} / {sep['peak_rss_mb']:.0f}",
                         f"{one.get('cpu_percent', 0):.0f}% / {sep.get('cpu_percent', 0):.0f}%", commit_cell(r)])
    header = ["Record", "Machine", "Sources", "One process: segmented fps (all sources)", "Separate processes: fps",
              "One / separate", "One: capture to written p50 (ms)", "Separate: p50 (ms)", "One: p99 (ms)",
              "Separate: p99 (ms)", "Peak memory, one / separate (MB)", "CPU used, one / separate", "Commit"]
    s = records[-1]["settings"]
    return section("Several cameras in one engine (`benchmarks/multisource.py`)", f"""\
`{s['command']}`: the DAVIS clips ({', '.join(s['clips'])}) as {s['camera_fps']} fps cameras, {s['seconds_per_source']} s of frames each; {s['model']}; {s['repeats']} repeats alternating, medians.
One process: `attnseg stream CLIP1 ... CLIPN` (one model, each front-end call on the frames of all);
separate: N `attnseg stream CLIP` started together. Segmented fps summed over the sources; latencies
from each command's --stats-json (separate: the median p50, the largest p99); memory: peak resident
set, summed over separate processes; CPU: user + system seconds over wall seconds (200%: both cores).
With one source both columns run the same command: their difference is the noise of the host.""".splitlines(), header, rows)


def live_targets_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        s, f = r["settings"], r["figures"]
        for name, part in f.items():
            if not isinstance(part, dict) or "targets" not in part:
                continue
            m, t = part["median"], part["targets"]
            verdict = ", ".join(f"{k} {'met' if v['met'] else 'missed'}" for k, v in t.items())
            rows.append([name, machine_label(r) + f", {s['cpu_capability']}", f"{100 * m['painted_fraction']:.1f}%",
                         f"{number(m['display_p50_ms'], 0)} / {number(m['display_p99_ms'], 0)}",
                         number(m["segmented_fps"], 2), number(m["segmented_over_frontend"], 2),
                         number(m["chromium_cores"], 2), number(m["chromium_ms_per_painted_frame"], 1),
                         number(m["demo_cores"], 2), verdict, commit_cell(r)])
    header = ["Checkout", "Machine", "Camera frames painted", "Capture to paint p50 / p99 ms", "Segmented fps",
              "Over the front-end's own", "Chromium cores", "Chromium ms per painted frame", "Demo cores",
              "Targets (issue 40)", "Commit"]
    return section("The live page at camera rate, every core counted (`benchmarks/live_targets.py`)", [
        "A 30 fps camera (the DAVIS frames as a video played with --realtime), the demo's page in Chromium on the",
        "same machine; CPU from /proc (Chromium: all its processes); medians of the runs, the checkouts alternating."],
        header, rows)
