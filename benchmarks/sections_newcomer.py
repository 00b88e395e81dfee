"""The page's sections for a newcomer's first runs: the README's tour, and random weights' q/k gain per preset."""
from __future__ import annotations

from .sections import commit_cell, section


def _machine(record: dict) -> str:
    m = record.get("machine") or record["settings"].get("machine", {})
    return f"{m.get('cores', '?')}-core {m.get('cpu', '?')}, {m.get('cpu_capability', '?')}, torch {m.get('torch', '?')}"


def tour_section(records: list[dict]) -> list[str]:
    out = []
    for r in records:
        f, s = r["figures"], r["settings"]
        rows = [[f"`{line['command']}`", line["exit"], f"{line['seconds']:.0f}"] for line in f["lines"]]
        text = [f"Every command of the README's tour in a fresh virtualenv and an empty cache, the paper's checkpoint "
                f"replaced by `--random-weights`, DAVIS clips as the tour's files (`{s['command']}`, commit "
                f"{commit_cell(r)}, {_machine(r)}): {f['passed']} of {f['of']} exit 0 within {s['limit_s']:.0f} s."]
        out += section("The README's tour on a CPU", text, ["command", "exit", "seconds"], rows)
    return out


def random_gain_section(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        for preset, p in r["figures"].items():
            h, w = p["resolution"]
            for t in p["tried"]:
                clips = ", ".join(f"{name} {c['regions_per_frame']:g} ({c['ids']} ids)" for name, c in t["clips"].items())
                chosen = " **chosen**" if t["qk_gain"] == p["chosen"] else ""
                rows.append([f"{preset} ({p['arch']} {h}x{w}, {p['path']}, {r['settings']['frames']} frames)",
                             f"{t['qk_gain']:g}{chosen}", f"{t['median_regions_per_frame']:g}", clips])
    text = ["Random weights' ST q/k gain, bisected per preset on its own path for the smallest whose median over the "
            "clips reaches 10 regions a frame (`python -m benchmarks.random_gain`); regions a frame and ids in all per "
            "clip. Content moves it far more than the gain: no one gain gives blackswan's water and dog tens each."]
    return section("Random weights: regions a frame by q/k gain", text,
                   ["preset", "q/k gain", "median regions a frame", "per clip: regions a frame (ids)"], rows)
