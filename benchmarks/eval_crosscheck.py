"""Cross-check `attnseg eval` against the DAVIS toolkit's own metric functions.

Runs on real predictions: label maps written by `attnseg segment --out`, for one
DAVIS sequence. For every (proposal, object, frame) it compares our J and F with
the toolkit's db_eval_iou and f_measure (the matching on top is scipy's Hungarian
method in both), and records both protocols' scores. The toolkit (e.g. the
authors' davis2017-evaluation, which needs scikit-image) is imported read-only
from --toolkit; nothing of it is part of attnseg.

    python -m benchmarks.eval_crosscheck --davis-root ROOT --results DIR --sequence blackswan \
        --toolkit PATH/davis2017-evaluation
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import write_record  # noqa: E402

from attnseg.eval.davis import choose_proposals, evaluate_sequence, load_sequence, read_results  # noqa: E402
from attnseg.eval.metrics import pairwise_scores  # noqa: E402


def toolkit_metrics(toolkit: Path):
    """davis2017/metrics.py of the toolkit's checkout, loaded from its file (nothing added to the import path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("davis2017_metrics", toolkit / "davis2017" / "metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--davis-root", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--sequence", required=True)
    ap.add_argument("--toolkit", required=True)
    ap.add_argument("--name", default="eval_crosscheck")
    args = ap.parse_args()
    metrics = toolkit_metrics(Path(args.toolkit))  # the toolkit's definitions
    db_eval_iou, f_measure = metrics.db_eval_iou, metrics.f_measure

    seq = load_sequence(args.davis_root, args.sequence)
    labels = read_results(args.results, seq, single=True)
    ids, _ = choose_proposals(labels, 300, None)
    worst_j = worst_f = 0.0
    pairs = 0
    for t in range(len(seq.frames)):
        j, f = pairwise_scores(seq.objects[:, t], labels[t], ids, seq.void[t])
        for a, pid in enumerate(ids):
            for o in range(len(seq.objects)):
                tj = db_eval_iou(seq.objects[o, t], labels[t] == pid, seq.void[t])
                tf = f_measure((labels[t] == pid).astype(np.uint8), seq.objects[o, t].astype(np.uint8),
                               seq.void[t])
                worst_j = max(worst_j, abs(tj - j[a, o]))
                worst_f = max(worst_f, abs(tf - f[a, o]))
                pairs += 1
    paper = evaluate_sequence(seq, labels, "paper").summary()
    standard = evaluate_sequence(seq, labels, "standard").summary()
    figures = {"pairs_compared": pairs, "proposals": len(ids), "frames": len(seq.frames),
               "max_abs_diff_J": worst_j, "max_abs_diff_F": worst_f,
               "paper_J": paper["J"], "paper_F": paper["F"], "standard_J": standard["J"],
               "standard_F": standard["F"]}
    settings = {"davis_root": args.davis_root, "results": args.results, "sequence": args.sequence,
                "toolkit": Path(args.toolkit).name}
    print(figures)
    print(f"wrote {write_record(args.name, settings, figures)}")


if __name__ == "__main__":
    main()
