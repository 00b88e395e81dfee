"""Certified clustering decisions: fast low-precision products, a rigorous error bound per entry, and
exact recomputation of the entries the bound cannot decide.

Every decision the clustering makes compares a symmetric KL distance with tau, or picks the smallest:

    D_ij = e_i + e_j - c_ij - c_ji,   c_ij = sum_k p_ik l_jk,   e_i = sum_k p_ik l_ik,   l = log p

(D1 and the D2 rows of leader candidates: D <= tau; the later levels: D(C, C) <= tau; the assignment:
argmin over centroids). Here the cross terms come from a fast product (a PRECISIONS row), each entry
gets an interval that provably holds the exact D, and only the entries whose interval straddles the
decision are recomputed in float64, which is exact for this purpose (its error, ~1e-16 |c|, is far below
anything fp32 can resolve). The result is the decision of exact arithmetic on the same fp32 rows.

The bound. Let u be the unit roundoff of the inputs' rounding (bf16: 2^-8, TF32: 2^-10 to allow the
truncation some tensor cores apply, fp32: 0), uo that of the product's output (bf16 out of a CPU bf16
matmul: 2^-8; fp32 out: 0), and g = m 2^-24 / (1 - m 2^-24) the fp32 accumulation of m terms in ANY
order (blocked, tree, FMA: Higham's gamma_m). Rows are probabilities (p >= 0, row sums sigma_i) and their
logs l are <= lambda_i (lambda_i = max(0, max_k l_ik), 0 unless a row sum rounded above 1).
- Rounding the inputs: |p^ l^ - p l| <= (2u + u^2) |p||l|, and the product of two bf16 (or TF32) numbers
  is exact in fp32.
- Accumulating: |fl(sum t_k) - sum t_k| <= g sum |t_k| <= g (1 + u)^2 sum |p||l|.
- Rounding the output: a further uo |result|.
So |c~_ij - c_ij| <= kappa a_ij with kappa = (1 + uo)(2u + u^2 + g (1 + u)^2) + uo and a_ij = sum_k p_ik |l_jk|.
Because p >= 0 and l <= lambda, a_ij = -c_ij + 2 sum_k p_ik max(l_jk, 0) <= -c_ij + 2 sigma_i lambda_j, and
with c_ij >= c~_ij - kappa a_ij this gives a_ij <= (-c~_ij + 2 sigma_i lambda_j) / (1 - kappa).
Our e_i is an fp32 sum of same-signed terms: |e~_i - e_i| <= g (-e~_i + 2 sigma_i lambda_i) / (1 - g).
Combining e_i + e_j - c_ij - c_ji - tau in fp32 adds at most 4 * 2^-24 (|e_i| + |e_j| + |c_ij| + |c_ji| + tau).
The sum of these is B_ij; comparisons use B_ij (1 + 2^-20) to cover the rounding of the bound itself.
An entry is decided when |D~_ij - tau| > B_ij; otherwise it is recomputed. An argmin is decided when one
centroid's interval lies below every other's; otherwise the candidates that may be smallest are
recomputed. tests/kernels/test_certified.py checks the bound against float64 on adversarial rows
(peaked, flat, with underflowed entries and rows summing just above 1) for every precision.

Ties. The fp32 reference (attnseg.model.clustering) makes the same decisions with its own rounding,
bounded by the same formula with u = uo = 0. A recomputed entry whose exact value lies within that bound
of tau (or an argmin whose two best candidates do) is a tie: the reference may decide it either way.
`Tally.ties` counts them; with no tie the partition equals the fp32 reference's, by construction.
The neighbour sums S = [D1 <= tau] A and the centroids are computed by the reference's own code on the
same decisions, so they are the reference's bit for bit.

The precision is data (PRECISIONS). On a CPU, "bf16" is native only where bf16 products are fast (AMX
or AVX-512 BF16, probed by attnseg.kernels.dispatch, never assumed); `emulate=True` rounds the inputs to
the precision and multiplies in fp32, the arithmetic of the GPU kernels (fp32 output), on any machine.
TF32 takes u = 2^-10, not 2^-11: some tensor cores truncate fp32 operands to TF32 instead of rounding.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import SettingError
from ..model.clustering import REFERENCE_OPS, ClusterOps, neg_entropy, safe_log

U32 = 2.0 ** -24  # fp32 unit roundoff
SLACK = 1 + 2.0 ** -20  # the bound's own rounding
RECOMPUTE_ELEMS = 1 << 22  # float64 elements gathered per recompute step (32 MiB)


@dataclass(frozen=True)
class Precision:
    """One way to compute the cross terms: inputs rounded to this precision (unit roundoff u; `dtype` is how
    PyTorch holds it), as `splits` parts per input (split products: the parts' cross terms down to order
    u^splits); a native PyTorch product also rounds its output (native_out_u)."""

    name: str
    u: float
    dtype: torch.dtype
    splits: int = 1
    native_out_u: float = 0.0  # output rounding of a native CPU product in `dtype` (0 on the GPU)
    torch_native: bool = False  # PyTorch multiplies in this dtype (its output rounded to it); else emulated

    def kappa(self, m: int, uo: float) -> float:
        """The factor of the bound |c~ - c| <= kappa sum |p||l| (see the module's docstring)."""
        u = self.u
        if self.splits == 1:
            rep, size = 2 * u + u * u, (1 + u) ** 2
        else:  # hi*hi + hi*lo + lo*hi: the dropped terms and the parts' own rounding are O(u^2)
            rep, size = 3 * u * u * (1 + u) ** 2, (1 + u) ** 2 * (1 + 2 * u * (1 + u))
        g = gamma(self.splits ** 2 * (m + 1))  # every partial product and the adds between them
        return (1 + uo) * (rep + g * size) + uo


PRECISIONS = {p.name: p for p in (
    Precision("fp32", 0.0, torch.float32, torch_native=True),  # certifies fp32 itself: only its ties recompute
    Precision("bf16", 2.0 ** -8, torch.bfloat16, native_out_u=2.0 ** -8, torch_native=True),
    Precision("bf16x3", 2.0 ** -8, torch.bfloat16, splits=2),  # hi*hi + hi*lo + lo*hi: ~16 mantissa bits
    Precision("tf32", 2.0 ** -10, torch.float32),  # tensor cores (GPU); emulated on a CPU
    Precision("tf32x3", 2.0 ** -10, torch.float32, splits=2),  # Triton's tf32x3: big*big + big*small + small*big
)}


def gamma(m: int) -> float:
    return m * U32 / (1 - m * U32)


def precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise SettingError(f"certified precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return PRECISIONS[name]


def round_to(x: torch.Tensor, prec: Precision) -> torch.Tensor:
    """x rounded to the precision's inputs, as fp32 values (TF32: 10 mantissa bits, round to nearest)."""
    if prec.name.startswith("tf32"):
        bits = x.contiguous().view(torch.int32)
        bits = (bits + 0x1000) & ~0x1FFF  # round half up at bit 13, drop the 13 low bits
        return bits.view(torch.float32)
    return x.to(prec.dtype).float()


def split(x: torch.Tensor, prec: Precision) -> list[torch.Tensor]:
    """x as `prec.splits` parts rounded to the precision (hi, lo, ...), each as fp32 values."""
    parts, rest = [], x
    for _ in range(prec.splits):
        part = round_to(rest, prec)
        parts.append(part)
        rest = rest - part  # exact in fp32: part holds rest's leading bits
    return parts


@dataclass
class Tally:
    """What the certified ops decided: entries, how many were recomputed, ties, and their time."""

    entries: int = 0
    recomputed: int = 0
    ties: int = 0
    seconds: float = 0.0
    recompute_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"entries": self.entries, "recomputed": self.recomputed, "ties": self.ties,
                "recomputed_fraction": self.recomputed / max(self.entries, 1),
                "seconds": round(self.seconds, 4), "recompute_seconds": round(self.recompute_seconds, 4),
                "recompute_time_share": self.recompute_seconds / self.seconds if self.seconds else 0.0}

    def reset(self) -> None:
        self.__init__()


class WindowRows:
    """What the D2 rows of one window's candidates share (the rows' low-precision parts, e and the bound's f),
    computed once and kept while the leader merge asks for its candidates block after block. Kept by the
    identity of (s, log_s, e_s), the objects held so no other tensor takes their identity: a caller that changes
    s recomputes e_s (the model's later levels do), and where a version counter exists (not on inference
    tensors) it must match too. Without e_s nothing is kept."""

    def __init__(self):
        self._held: tuple = ()  # (s, log_s, e_s, versions, value)

    def get(self, s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor | None, make: Callable[[], tuple]):
        versions = tuple(-1 if t.is_inference() else t._version for t in (s, log_s))
        held = self._held
        if e_s is not None and held and held[0] is s and held[1] is log_s and held[2] is e_s and held[3] == versions:
            return held[4]
        value = make()
        self._held = (s, log_s, e_s, versions, value)
        return value


class Certifier:
    """The low-precision cross products and their bounds for one precision, native or emulated."""

    def __init__(self, prec: Precision, emulate: bool, tally: Tally):
        self.prec, self.emulate, self.tally = prec, emulate, tally
        self.native = not emulate and prec.torch_native
        self.window = WindowRows()

    def rounded(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x's low-precision parts (fp32 values, or bf16 for a native bf16 product)."""
        if self.native and self.prec.dtype != torch.float32:
            return [x.to(self.prec.dtype)]
        return [x] if self.prec.name == "fp32" else split(x, self.prec)

    @staticmethod
    def cross(pa: list[torch.Tensor], pb: list[torch.Tensor]) -> torch.Tensor:
        """sum of the parts' products a_i @ b_j.T with i + j < splits, as fp32: split parts down to u^splits."""
        out = None
        for i, x in enumerate(pa):
            for j, y in enumerate(pb):
                if i + j < len(pa):
                    term = (x @ y.T).float()
                    out = term if out is None else out.add_(term)
        return out

    def product(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a @ b.T in this precision, as fp32."""
        return self.cross(self.rounded(a), self.rounded(b))

    def kappa(self, m: int) -> float:
        return self.prec.kappa(m, self.prec.native_out_u if self.native else 0.0)


@dataclass(frozen=True)
class Bound:
    """B_ij = (f_i + f_j) - k1 min(x_ij, 0) + tau_term for x_ij = c~_ij + c~_ji (the module's bound, arranged
    so that a kernel's epilogue needs two numbers per row): f_i holds e_i's error, the final combination's
    rounding of e_i and the lambda terms (2 kappa' sigma_i lambda_j <= 2 kappa' sigma_max lambda_j)."""

    k1: float
    tau_term: float


def row_terms(p: torch.Tensor, log_p: torch.Tensor, kappa: float, sigma_max: torch.Tensor | float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: e (fp32, as the reference computes it) and f, its share of the bound."""
    g = gamma(p.shape[1])
    e = neg_entropy(p, log_p)
    lam = log_p.amax(dim=1).clamp_min(0)
    f = g * (2 * p.sum(dim=1) * lam - e).clamp_min(0) / (1 - g) + 4 * U32 * e.abs() \
        + 2 * kappa / (1 - kappa) * sigma_max * lam
    return e, f


def bound_of(kappa: float, tau: float) -> Bound:
    return Bound(kappa / (1 - kappa) + 4 * U32, 4 * U32 * abs(tau))


def exact_distance(p: torch.Tensor, log_p: torch.Tensor, q: torch.Tensor, log_q: torch.Tensor,
                   i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D(p_i, q_j) for the listed pairs in float64, and a_ij + a_ji (the fp32 reference's error scale)."""
    m = p.shape[1]
    out = torch.empty(i.numel(), dtype=torch.float64, device=p.device)
    scale = torch.empty_like(out)
    step = max(1, RECOMPUTE_ELEMS // (4 * m))
    for s in range(0, i.numel(), step):
        ii, jj = i[s:s + step], j[s:s + step]
        pi, li = p[ii].double(), log_p[ii].double()
        qj, lj = q[jj].double(), log_q[jj].double()
        cross = (pi * lj).sum(1) + (qj * li).sum(1)
        out[s:s + step] = (pi * li).sum(1) + (qj * lj).sum(1) - cross
        scale[s:s + step] = (pi * lj.abs()).sum(1) + (qj * li.abs()).sum(1) + (pi * li).sum(1).abs() \
            + (qj * lj).sum(1).abs()
    return out, scale


def reference_bound(scale: torch.Tensor, m: int, tau: float) -> torch.Tensor:
    """How far the fp32 reference's D may lie from the exact one (u = uo = 0 in the module's bound)."""
    g = gamma(m)
    return (g / (1 - g) + 4 * U32) * scale * SLACK + 4 * U32 * abs(tau)


def _decide(dev: torch.Tensor, bound: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """near (dev <= 0) and uncertain (|dev| <= bound) from the computed deviation D~ - tau."""
    return dev <= 0, dev.abs() <= bound * SLACK


def settle(near: torch.Tensor, unsure: torch.Tensor, p, log_p, q, log_q, tau: float, tally: Tally,
            rows: torch.Tensor | None = None) -> None:
    """Recompute the unsure entries of `near` (rows of p against rows of q) exactly, in place; their (i, j)."""
    start = time.perf_counter()
    i, j = unsure.nonzero().unbind(1)
    if i.numel():
        pi = i if rows is None else rows[i]
        d, scale = exact_distance(p, log_p, q, log_q, pi, j)
        near[i, j] = d <= tau
        tally.ties += int(((d - tau).abs() <= reference_bound(scale, p.shape[1], tau)).sum())
    tally.recomputed += i.numel()
    tally.recompute_seconds += time.perf_counter() - start
    return i, j


def within_tau(cert: Certifier, p: torch.Tensor, log_p: torch.Tensor, tau: float, block: int = 1024) -> torch.Tensor:
    """(D(P, P) <= tau) as a bool (n, n) matrix, certified."""
    start = time.perf_counter()
    n, m = p.shape
    kappa = cert.kappa(m)
    e, f = row_terms(p, log_p, kappa, p.sum(dim=1).max())
    bound = bound_of(kappa, tau)
    cross = cert.product(p, log_p)
    near = torch.empty(n, n, dtype=torch.bool, device=p.device)
    unsure = torch.empty(n, n, dtype=torch.bool, device=p.device)
    r = e - tau / 2
    for s in range(0, n, block):
        rows = slice(s, s + block)
        x = cross[rows] + cross[:, rows].T  # c_ij + c_ji
        near[rows], unsure[rows] = _decide(r[rows, None] + r[None, :] - x,
                                           f[rows, None] + f[None, :] - bound.k1 * x.clamp_max(0) + bound.tau_term)
    unsure.triu_(1)  # D is symmetric; the diagonal is 0 exactly
    i, j = settle(near, unsure, p, log_p, p, log_p, tau, cert.tally)
    near[j, i] = near[i, j]
    cert.tally.entries += n * (n + 1) // 2
    cert.tally.seconds += time.perf_counter() - start
    return near


def within_tau_rows(cert: Certifier, idx: torch.Tensor, s: torch.Tensor, log_s: torch.Tensor, e_s: torch.Tensor,
                    tau: float) -> torch.Tensor:
    """Rows `idx` of (D(S, S) <= tau), certified: (len(idx), n)."""
    start = time.perf_counter()
    kappa = cert.kappa(s.shape[1])
    e, f, ps, pl = cert.window.get(s, log_s, e_s, lambda: (*row_terms(s, log_s, kappa, s.sum(dim=1).max()),
                                                          cert.rounded(s), cert.rounded(log_s)))
    bound = bound_of(kappa, tau)
    x = cert.cross([t[idx] for t in ps], pl) + cert.cross(ps, [t[idx] for t in pl]).T
    r = e - tau / 2
    near, unsure = _decide(r[idx, None] + r[None, :] - x,
                           f[idx, None] + f[None, :] - bound.k1 * x.clamp_max(0) + bound.tau_term)
    settle(near, unsure, s, log_s, s, log_s, tau, cert.tally, rows=idx)
    cert.tally.entries += near.numel()
    cert.tally.seconds += time.perf_counter() - start
    return near


@dataclass
class AssignTerms:
    """What every certified distance of rows to centroids needs: the centroids and their logs, and per row and
    per centroid e and f (row_terms), with the bound's factor k1."""

    cent: torch.Tensor
    log_c: torch.Tensor
    e: torch.Tensor
    f: torch.Tensor
    ec: torch.Tensor
    fc: torch.Tensor
    k1: float

    def distances(self, x: torch.Tensor, rows=slice(None), cols=slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """The fp32 D of `rows` against centroids `cols` from their cross terms x = c_ij + c_ji, and each entry's
        bound."""
        dist = (self.e[rows, None] + self.ec[None, cols]) - x
        return dist, (self.f[rows, None] + self.fc[None, cols] - self.k1 * x.clamp_max(0)) * SLACK


def assign_terms(cert: Certifier, prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor) -> AssignTerms:
    cent = centroids.float()
    log_c = safe_log(cent)
    kappa = cert.kappa(prob.shape[1])
    sigma_max = torch.maximum(prob.sum(dim=1).max(), cent.sum(dim=1).max())
    return AssignTerms(cent, log_c, *row_terms(prob, log_prob, kappa, sigma_max),
                       *row_terms(cent, log_c, kappa, sigma_max), bound_of(kappa, 0.0).k1)


def assign(cert: Certifier, prob: torch.Tensor, log_prob: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid per row (ties: the lowest index), certified: an argmin is accepted when one
    centroid's interval lies below all others; otherwise the candidates are recomputed exactly."""
    start = time.perf_counter()
    t = assign_terms(cert, prob, log_prob, centroids)
    cent, log_c = t.cent, t.log_c
    x = cert.product(prob, log_c) + cert.product(cent, log_prob).T  # (n, K)
    dist, bound = t.distances(x)
    labels = dist.argmin(dim=1)
    cand = (dist - bound) <= (dist + bound).amin(dim=1, keepdim=True)
    unsure = (cand.sum(dim=1) > 1).nonzero().squeeze(1)
    labels[unsure] = exact_argmin(prob, log_prob, cent, log_c, unsure, cand[unsure], cert.tally)
    cert.tally.entries += dist.numel()
    cert.tally.seconds += time.perf_counter() - start
    return labels


def exact_argmin(prob, log_prob, cent, log_c, rows: torch.Tensor, cand: torch.Tensor, tally: Tally) -> torch.Tensor:
    """The exact nearest of the candidate centroids `cand` (bool, (len(rows), K)) of each listed row."""
    start = time.perf_counter()
    i, j = cand.nonzero().unbind(1)
    d, scale = exact_distance(prob, log_prob, cent, log_c, rows[i], j)
    dist = torch.full(cand.shape, float("inf"), dtype=torch.float64, device=d.device)
    dist[i, j] = d
    best = dist.argmin(dim=1)  # exact values; equal ones keep the lowest index
    err = torch.zeros_like(dist)
    err[i, j] = reference_bound(scale, prob.shape[1], 0.0)
    gap = dist - dist.gather(1, best[:, None])
    rivals = (gap <= err + err.gather(1, best[:, None])) & torch.isfinite(dist)
    tally.ties += int((rivals.sum(dim=1) > 1).sum())
    tally.recomputed += i.numel()
    tally.recompute_seconds += time.perf_counter() - start
    return best


def certified_ops(name: str = "bf16", *, emulate: bool = False, tally: Tally | None = None) -> ClusterOps:
    """The ClusterOps table whose decisions are certified, computing products in precision `name`."""
    cert = Certifier(precision(name), emulate, tally or Tally())
    return ClusterOps(affinity=REFERENCE_OPS.affinity, attention=REFERENCE_OPS.attention,
                      within_tau=functools.partial(within_tau, cert),
                      within_tau_rows=functools.partial(within_tau_rows, cert),
                      assign=functools.partial(assign, cert),
                      merge=REFERENCE_OPS.merge, tally=cert.tally)

