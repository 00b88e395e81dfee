"""`attnseg info`: the machine, the versions, what each `auto` choice would be here and why, the cached weights."""
from __future__ import annotations

import json

from ..bench.environment import describe, environment


def add(sub) -> None:
    p = sub.add_parser("info", help="what attnseg finds on this machine: instruction set, cores, memory, GPU, "
                                    "versions, which backend and kernels auto would pick and why, cached weights")
    p.add_argument("--json", action="store_true", help="the same as one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    report = environment()
    print(json.dumps(report, indent=1) if args.json else describe(report))
    return 0
