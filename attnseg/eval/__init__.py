"""Evaluation: DAVIS J and F of label maps against annotations (SPEC 7)."""
from .davis import PROTOCOLS, EvalError, EvalReport, evaluate, evaluate_sequence, load_sequence
from .metrics import boundary_f, jaccard, statistics

__all__ = ["PROTOCOLS", "EvalError", "EvalReport", "evaluate", "evaluate_sequence", "load_sequence",
           "boundary_f", "jaccard", "statistics"]
