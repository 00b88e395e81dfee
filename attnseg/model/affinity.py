"""Spatio-temporal affinity: query windows against key frames (SPEC 5).

For one window of query frames, every query token gets a probability
distribution over all key tokens of all key frames: a softmax per head over
ALL key tokens, averaged over heads. Rows are (frame, y, x) raster order,
columns (key frame, y, x).

log A is computed stably: where A is comfortably inside float32's normal
range, log(A) is already accurate to float32 rounding; rows that hold any
entry below LOG_SAFE_MIN are recomputed as logsumexp over heads of the
per-head log-softmax minus log(heads), which is finite even where every head's
probability underflowed to 0 (the released code takes log(0) = -inf there and
its distances become NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import SettingError
from ..settings import PAPER

LOG_SAFE_MIN = 1e-30  # well above float32's smallest normal (1.2e-38): log() is exact to rounding here


@dataclass
class Affinity:
    """Head-mean attention rows of one window: prob (n, m) and its finite log."""

    prob: torch.Tensor
    log_prob: torch.Tensor


def key_frame_indices(num_frames: int, ratio: int) -> list[int]:
    """Key frames 0, r, 2r, ... (Tk = T // r).

    Deviation from the released code: when T < r it has NO key frame and
    returns one all-ones mask; here frame 0 is always a key frame. Frames after
    the last key frame simply attend to earlier key frames.
    """
    if num_frames < 1 or ratio < 1:
        raise SettingError(f"need num_frames >= 1 and ratio >= 1, got {num_frames}, {ratio}")
    return [i * ratio for i in range(max(1, num_frames // ratio))]


def query_windows(num_frames: int, window: int = PAPER.window) -> list[range]:
    """Consecutive windows of `window` frames; the last one may be shorter."""
    return [range(t, min(t + window, num_frames)) for t in range(0, num_frames, window)]


def _heads_first(x: torch.Tensor) -> torch.Tensor:
    """(frames, heads, tokens, d) -> (heads, frames * tokens, d)."""
    f, h, n, d = x.shape
    return x.transpose(0, 1).reshape(h, f * n, d)


def head_logits(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Per-head attention logits (heads, n, m) for q (Tq, H, N, d) and k (Tk, H, M, d)."""
    return torch.einsum("hnd,hmd->hnm", _heads_first(q), _heads_first(k)) * scale


CHUNK_ELEMS = {"cpu": 1 << 20, "cuda": 1 << 26}  # logits per block: cache-sized on a CPU, few launches on a GPU


def affinity(q: torch.Tensor, k: torch.Tensor, scale: float, chunk_elems: int | None = None) -> Affinity:
    """Affinity of the query frames `q` (Tq, H, N, d) to the key frames `k` (Tk, H, M, d).

    Computed head by head over blocks of about `chunk_elems` logits (default by
    device: CHUNK_ELEMS), so a block's logits stay in cache on a CPU, a GPU
    runs a few large launches instead of thousands, and peak memory is
    O(n * m), never O(heads * n * m): rows whose log needs the stable path are
    recomputed in blocks of the same budget across all heads.
    Heads are still added one by one in order, as without blocking.
    """
    qh, kh = _heads_first(q.float()), _heads_first(k.float())
    heads, m = qh.shape[0], kh.shape[1]
    chunk_elems = chunk_elems or CHUNK_ELEMS.get(q.device.type, CHUNK_ELEMS["cpu"])
    prob = _mean_softmax(qh, kh, scale, chunk_elems)
    log_prob = torch.log(prob)
    rows = (prob < LOG_SAFE_MIN).any(dim=1).nonzero().squeeze(1)
    step = max(1, chunk_elems // max(heads * m, 1))
    for start in range(0, rows.numel(), step):
        block = rows[start:start + step]
        logits = torch.einsum("hnd,hmd->hnm", qh[:, block], kh) * scale
        log_prob[block] = torch.logsumexp(logits.log_softmax(dim=-1), dim=0) - math.log(heads)
    return Affinity(prob, log_prob)


def affinity_prob(q: torch.Tensor, k: torch.Tensor, scale: float, chunk_elems: int | None = None) -> torch.Tensor:
    """affinity(q, k, scale).prob, the same numbers, without the logs (for a caller that never reads them)."""
    chunk_elems = chunk_elems or CHUNK_ELEMS.get(q.device.type, CHUNK_ELEMS["cpu"])
    return _mean_softmax(_heads_first(q.float()), _heads_first(k.float()), scale, chunk_elems)


def _mean_softmax(qh: torch.Tensor, kh: torch.Tensor, scale: float, chunk_elems: int) -> torch.Tensor:
    """The head-mean softmax rows (n, m) of qh (H, n, d) against kh (H, m, d), a block of rows at a time."""
    heads, n, m = qh.shape[0], qh.shape[1], kh.shape[1]
    kt = kh.transpose(1, 2).contiguous()
    prob = torch.zeros(n, m, dtype=torch.float32, device=qh.device)
    step = max(1, chunk_elems // max(m, 1))
    for start in range(0, n, step):
        block = prob[start:start + step]
        for h in range(heads):
            block += torch.softmax((qh[h, start:start + step] @ kt[h]).mul_(scale), dim=-1)
    prob /= heads
    return prob


def affinity_ref(q: torch.Tensor, k: torch.Tensor, scale: float) -> Affinity:
    """Literal formulation (materializes all heads): mean of per-head softmax, logsumexp log."""
    logits = head_logits(q.float(), k.float(), scale)
    heads = logits.shape[0]
    return Affinity(logits.softmax(-1).mean(0), torch.logsumexp(logits.log_softmax(-1), 0) - math.log(heads))
