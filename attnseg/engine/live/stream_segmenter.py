"""The streaming algorithm, synchronous: frames' q, k in, tracked label maps out (docs/streaming.md).

    stream = StreamSegmenter.of(segmenter, StreamSettings())  # its scale, kernels, window, ratio and tau
    for frame_q, frame_k in features:                      # (heads, N, d) each, one frame at a time
        for labels in stream.push(frame_q, frame_k):       # (N,) track ids, once a window completes
            ...
    for labels in stream.flush(): ...                      # the last, short window

StreamSettings configures it, with the clip's window, ratio and tau (SegmentSettings: the Segmenter passes its own);
the streaming runtime (runtime.py: threads, queues, drop policy, configured by RuntimeSettings) runs it on a source, and the Triton Inference Server model keeps one per camera.

Causal (the default): every frame is clustered as soon as it is pushed, in a window of itself and its
`window - 1` predecessors (the paper's level 1 against the key frames in memory: affinity, neighbour averaging,
leader merge), and only its own tokens are assigned to the window's centroids and linked by Tracker to
persistent ids; push returns its labels at once. Not causal (the paper's fixed windows): a window is
clustered when its `window`-th frame arrives, and every frame of it gets its labels then.
Key frames: every `ratio`-th frame (the first included) joins a memory of at most `memory` key frames, the
oldest leaving. A track unseen for `max_age` windows of frames (max_age * window frames) is forgotten either
way. Work and memory per frame are bounded by window, memory, and the tracks alive, whatever the stream's
length.
"""
from __future__ import annotations

from collections import deque

import torch

from ...model.affinity import Affinity
from ...model.clustering import REFERENCE_OPS, ClusterOps, cluster_window
from ...settings import PAPER, StreamSettings
from ..tracking import Tracker


class StreamSegmenter:
    def __init__(self, scale: float, config: StreamSettings = StreamSettings(), ops: ClusterOps = REFERENCE_OPS, *,
                 window: int = PAPER.window, ratio: int = PAPER.ratio, tau: float = PAPER.tau):
        self.scale, self.config, self.ops = scale, config, ops
        self.window, self.ratio, self.tau = window, ratio, tau
        self.keys: deque[torch.Tensor] = deque(maxlen=config.memory)
        self.queries: list[torch.Tensor] = []
        self.rows: list = []  # causal: the window's affinity rows (Affinity per frame) over the current memory
        self.frames_seen = 0
        # a track lives max_age windows of frames: causal, a window is clustered every frame
        max_age = config.max_age * window if config.causal else config.max_age
        self.tracker = Tracker(tau, max_age, config.track_tokens, ops)

    @classmethod
    def of(cls, segmenter, config: StreamSettings = StreamSettings(), ratio: int | None = None) -> StreamSegmenter:
        """The streaming algorithm on a Segmenter's clustering: its affinity scale and kernels, and its window, tau
        and key-frame ratio (`ratio`: another one)."""
        clip = segmenter.config
        return cls(segmenter.scale, config, segmenter.ops, window=clip.window, ratio=ratio or clip.ratio, tau=clip.tau)

    def push(self, q: torch.Tensor, k: torch.Tensor | None) -> list[torch.Tensor]:
        """Add one frame's q, k (heads, N, d); the label maps (N,) it completes: causal, its own; else those of
        the window it completes, or []. Only every `ratio`-th frame's k is read (a key frame): k may be None
        for the others."""
        if self.frames_seen % self.ratio == 0:
            if k is None:
                raise ValueError(f"frame {self.frames_seen} is a key frame: its k is needed")
            self.keys.append(k)
            self.rows = []  # a new memory: every frame's affinity rows change
        self.frames_seen += 1
        self.queries.append(q)
        if self.config.causal:
            self.queries = self.queries[-self.window:]
            return [self._newest()]
        return self.flush() if len(self.queries) == self.window else []

    def _newest(self) -> torch.Tensor:
        """The newest frame's ids: its window of predecessors clustered, its own tokens assigned and linked."""
        memory = torch.stack(list(self.keys))
        # a frame's rows are computed once per memory, frame by frame (the window's rows are their stack)
        rows = lambda frames: [self.ops.affinity(q[None], memory, self.scale) for q in frames]  # noqa: E731
        keep = len(self.queries) - 1  # the predecessors
        if len(self.rows) < keep:  # the memory changed
            self.rows = rows(self.queries[:keep])
        self.rows = self.rows[len(self.rows) - keep:] + rows(self.queries[-1:])
        newest = self.rows[-1]
        aff = Affinity(torch.cat([r.prob for r in self.rows]), torch.cat([r.log_prob for r in self.rows]))
        centroids = cluster_window(aff, self.tau, self.ops)
        labels = self.ops.assign(newest.prob, newest.log_prob, centroids)
        used, labels = torch.unique(labels, return_inverse=True)  # only centroids the frame has become ids
        return self.tracker.update(self.queries[-1].transpose(0, 1), labels, centroids[used], memory, self.scale)

    def flush(self) -> list[torch.Tensor]:
        """Segment the frames waiting (a short last window); one (N,) id map per frame. Causal: nothing waits."""
        if not self.queries or self.config.causal:
            return []
        q = torch.stack(self.queries)  # (w, heads, N, d)
        self.queries = []
        memory = torch.stack(list(self.keys))
        aff = self.ops.affinity(q, memory, self.scale)
        centroids = cluster_window(aff, self.tau, self.ops)
        labels = self.ops.assign(aff.prob, aff.log_prob, centroids)
        tokens = q.permute(0, 2, 1, 3).reshape(-1, q.shape[1], q.shape[3])  # (w*N, heads, d)
        ids = self.tracker.update(tokens, labels, centroids, memory, self.scale)
        return list(ids.view(q.shape[0], q.shape[2]))
