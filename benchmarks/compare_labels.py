"""Agreement of two (T, h, w) label arrays after matching their ids (Hungarian on the overlap).

    python -m benchmarks.compare_labels OURS.npy THEIRS.npy [--json OUT.json]

Used for the fidelity check against the authors' released code: run both on the
same frames with the same checkpoint, save the patch labels, compare here.
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def id_matching(a: np.ndarray, b: np.ndarray) -> tuple[dict[int, int], int]:
    """The one-to-one matching of b's ids to a's that maximizes the tokens they share (Hungarian on the
    overlap), and that number of tokens."""
    from scipy.optimize import linear_sum_assignment

    if a.shape != b.shape:
        raise ValueError(f"label shapes differ: {a.shape} vs {b.shape}")
    ua, ia = np.unique(a.ravel(), return_inverse=True)
    ub, ib = np.unique(b.ravel(), return_inverse=True)
    overlap = np.zeros((len(ua), len(ub)), dtype=np.int64)
    np.add.at(overlap, (ia, ib), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return {int(ub[c]): int(ua[r]) for r, c in zip(rows, cols)}, int(overlap[rows, cols].sum())


def matched_agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """Fraction of tokens whose ids agree after the one-to-one id matching that maximizes it."""
    _, agree = id_matching(a, b)
    return {"tokens": int(a.size), "agree": agree, "agreement": agree / a.size,
            "ids_a": int(len(np.unique(a))), "ids_b": int(len(np.unique(b)))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json")
    args = ap.parse_args()
    result = matched_agreement(np.load(args.a), np.load(args.b))
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
