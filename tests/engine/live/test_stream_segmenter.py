"""The causal streaming algorithm: labels with their frame, the paper's level 1 on the same rows, and the work
kept from frame to frame (affinity rows, track re-expressions) changing no label."""
from __future__ import annotations

import dataclasses

import torch

from attnseg.engine.live.stream_segmenter import StreamSegmenter
from attnseg.engine.tracking import Tracker
from attnseg.model.clustering import REFERENCE_OPS
from attnseg.settings import StreamSettings

from tests.engine.test_tracking import D, GRID, features, scene


def partition(labels: torch.Tensor) -> list[frozenset]:
    """A label map as the set of its token groups: equal for two maps that differ only in their names."""
    labels = labels.tolist()
    return sorted((frozenset(i for i, v in enumerate(labels) if v == c) for c in set(labels)), key=min)


def test_each_push_returns_the_frame_s_own_labels_at_once():
    stream = StreamSegmenter(D ** -0.5, StreamSettings(memory=4), ratio=3)
    for q, k in features(scene(10)):
        out = stream.push(q, k)
        assert len(out) == 1 and out[0].shape == (GRID[0] * GRID[1],)
    assert stream.flush() == []  # nothing waits


def test_a_full_causal_window_clusters_as_the_paper_s_window_on_the_same_frames():
    """Frames 3j..3j+2 with the same memory: the causal window of frame 3j+2 is the paper's window j, so the
    newest frame's tokens are grouped alike (the names differ: tracks)."""
    frames = features(scene(30), gain=8.0)
    causal = StreamSegmenter(D ** -0.5, StreamSettings(memory=4), ratio=3)
    windows = StreamSegmenter(D ** -0.5, StreamSettings(memory=4, causal=False), ratio=3)
    compared = 0
    for t, (q, k) in enumerate(frames):
        newest = causal.push(q, k)[0]
        done = windows.push(q, k)
        if done:
            assert t % 3 == 2
            assert partition(newest) == partition(done[-1])
            compared += 1
    assert compared == 10


def test_affinity_rows_are_computed_once_per_frame_and_memory():
    calls = []

    def counting(q, k, scale):
        calls.append((q.shape[0], k.shape[0]))
        return REFERENCE_OPS.affinity(q, k, scale)

    ops = dataclasses.replace(REFERENCE_OPS, affinity=counting)
    stream = StreamSegmenter(D ** -0.5, StreamSettings(memory=4), ops, ratio=3, window=3)
    stream.tracker.tracks = []  # keep the tracker's own affinities out of the count
    frames = features(scene(12))
    per_frame = []
    for q, k in frames:
        before = len(calls)
        stream.tracker.update = lambda q, labels, *a: labels  # count the window's rows only
        stream.push(q, k)
        per_frame.append(len(calls) - before)
        assert len(stream.rows) == len(stream.queries) <= 3
    # a key frame every 3 frames: its frame recomputes the predecessors' rows, the others only their own
    assert per_frame == [1, 1, 1, 3, 1, 1, 3, 1, 1, 3, 1, 1]


class Uncached(Tracker):
    """Re-expresses every track at every link: the tracker before its re-expressions were kept."""

    def _over_memory(self, memory_keys, scale):
        self._protos = {}
        return super()._over_memory(memory_keys, scale)


def drifting(num_frames: int = 40, seed: int = 0):
    """q, k per frame of 48 tokens, each its own object; every 4 frames 12 of them change for good, so tracks
    end and wait unseen (up to max_age) while the others go on."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(8, 48, D, generator=g)
    out = []
    for t in range(num_frames):
        if t % 4 == 3:
            base[:, torch.randperm(48, generator=g)[:12]] = torch.randn(8, 12, D, generator=g)
        noise = lambda: 0.3 * torch.randn(8, 48, D, generator=g)  # noqa: E731
        out.append((3 * (base + noise()), base + noise()))
    return out


def test_kept_track_re_expressions_change_no_id():
    """Over a hundred tracks, most unseen in a given window: the same ids with and without the kept
    re-expressions, causal and windowed, and far fewer re-expressed."""
    for causal in (True, False):
        maps, expressed = [], []
        for tracker_class in (Tracker, Uncached):
            stream = StreamSegmenter(D ** -0.5, StreamSettings(memory=4, causal=causal), ratio=9)
            stream.tracker.__class__ = tracker_class
            count, express = [0], stream.tracker._express
            stream.tracker._express = lambda tracks, *a: count.__setitem__(0, count[0] + len(tracks)) or express(
                tracks, *a)
            maps.append(torch.stack([m for q, k in drifting() for m in stream.push(q, k)] + stream.flush()))
            expressed.append(count[0])
        assert torch.equal(maps[0], maps[1])
        assert int(maps[0].max()) > 100 and expressed[0] < 0.7 * expressed[1]
