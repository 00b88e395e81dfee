"""`attnseg eval`: DAVIS J and F of label-map PNGs against the annotations (needs attnseg[eval])."""
from __future__ import annotations

from ..eval.davis import PROTOCOLS
from ..files import write_json

PROTOCOL_NAMES = {"standard": "standard DAVIS unsupervised (one matching per sequence, <= 20 proposals)",
                  "paper": "paper (every cluster a proposal, matching per frame, <= 300)"}


def add(sub) -> None:
    p = sub.add_parser("eval", help="DAVIS J and F of label-map PNGs against annotations")
    p.add_argument("--davis-root", required=True, help="DAVIS layout: JPEGImages/480p, Annotations*/480p")
    p.add_argument("--results", required=True, help="RESULTS/SEQ/FRAME.png label maps, as segment or stream --out "
                                                    "RESULTS/SEQ and batch --out RESULTS write them (every id a "
                                                    "proposal)")
    p.add_argument("--protocol", default="standard", choices=list(PROTOCOLS),
                   help="standard: one matching per sequence, <= 20 proposals; paper: per frame, <= 300 "
                        "(default: standard)")
    p.add_argument("--sequences", nargs="+", help="the sequences to score (default: every annotated sequence with a "
                                                  "folder in RESULTS)")
    p.add_argument("--annotations", default="auto", choices=["auto", "Annotations", "Annotations_unsupervised"],
                   help="the annotation folder under --davis-root (default: auto, Annotations_unsupervised when "
                        "present, else Annotations)")
    p.add_argument("--background", type=int, help="a label id that is not a proposal (e.g. 0)")
    p.add_argument("--json", help="write the scores as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..eval import evaluate

    report = evaluate(args.davis_root, args.results, args.protocol, args.sequences, args.annotations,
                      args.background).to_dict()
    print(f"protocol: {PROTOCOL_NAMES[args.protocol]}; {len(report['sequences'])} of {report['annotated_sequences']} "
          f"annotated sequences" + ("" if args.sequences else " (those with results)"))
    print(f"{'sequence':<20} {'J&F':>6} {'J':>6} {'F':>6} {'objects':>7} {'proposals':>9}")
    for name, s in report["sequences"].items():
        print(f"{name:<20} {s['J&F']:6.3f} {s['J']:6.3f} {s['F']:6.3f} {s['objects']:7d} {s['proposals']:9d}"
              + (f"  ({s['dropped_proposals']} smallest dropped)" if s["dropped_proposals"] else ""))
    print(f"{'mean':<20} {report['J&F']:6.3f} {report['J']:6.3f} {report['F']:6.3f}"
          f"   J recall {report['J_recall']:.3f} decay {report['J_decay']:.3f},"
          f" F recall {report['F_recall']:.3f} decay {report['F_decay']:.3f}")
    if args.json:
        write_json(args.json, report)
    return 0
