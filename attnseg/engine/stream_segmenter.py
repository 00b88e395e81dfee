"""The streaming algorithm, synchronous: frames' q, k in, tracked label maps out (docs/streaming.md).

    stream = segmenter.stream_segmenter(StreamConfig())   # = StreamSegmenter(scale, StreamConfig(), ops)
    for frame_q, frame_k in features:                      # (heads, N, d) each, one frame at a time
        for labels in stream.push(frame_q, frame_k):       # (N,) track ids, once a window completes
            ...
    for labels in stream.flush(): ...                      # the last, short window

StreamConfig configures it; the streaming runtime (streaming.py: threads, queues, drop policy, configured by
RuntimeSettings) runs it on a source, and the Triton Inference Server model keeps one per camera.

Per window of `window` frames: the paper's level 1 (affinity against the key
frames in memory, neighbour averaging, leader merge) and the assignment of
every token to its nearest window centroid, then Tracker links the window's
clusters to persistent ids. Key frames: every `ratio`-th frame (the first
included) joins a memory of at most `memory` key frames, the oldest leaving.
Work and memory per frame are bounded by window, memory, and the tracks
alive in the last `max_age` windows, whatever the stream's length.
"""
from __future__ import annotations

from collections import deque

import torch

from ..model.clustering import REFERENCE_OPS, ClusterOps, cluster_window
from ..settings import StreamConfig
from .tracking import Tracker


class StreamSegmenter:
    def __init__(self, scale: float, config: StreamConfig = StreamConfig(), ops: ClusterOps = REFERENCE_OPS):
        self.scale, self.config, self.ops = scale, config, ops
        self.keys: deque[torch.Tensor] = deque(maxlen=config.memory)
        self.queries: list[torch.Tensor] = []
        self.frames_seen = 0
        self.tracker = Tracker(config.tau, config.max_age, config.track_tokens, ops)

    def push(self, q: torch.Tensor, k: torch.Tensor) -> list[torch.Tensor]:
        """Add one frame's q, k (heads, N, d); the label maps (N,) of a window it completes, else []."""
        if self.frames_seen % self.config.ratio == 0:
            self.keys.append(k)
        self.frames_seen += 1
        self.queries.append(q)
        return self.flush() if len(self.queries) == self.config.window else []

    def flush(self) -> list[torch.Tensor]:
        """Segment the frames waiting (a short last window); one (N,) id map per frame."""
        if not self.queries:
            return []
        q = torch.stack(self.queries)  # (w, heads, N, d)
        self.queries = []
        memory = torch.stack(list(self.keys))
        aff = self.ops.affinity(q, memory, self.scale)
        centroids = cluster_window(aff, self.config.tau, self.ops)
        labels = self.ops.assign(aff.prob, aff.log_prob, centroids)
        tokens = q.permute(0, 2, 1, 3).reshape(-1, q.shape[1], q.shape[3])  # (w*N, heads, d)
        ids = self.tracker.update(tokens, labels, centroids, memory, self.scale)
        return list(ids.view(q.shape[0], q.shape[2]))
