"""Persistent object ids across streaming windows (see docs/streaming.md).

Each window is clustered on its own, against the key frames in memory at
that time, so its cluster numbers mean nothing to the next window. A Track
keeps an object's appearance as up to `tokens` of its query vectors (the ST
block's q, per head). To link a window's clusters, every live track is
re-expressed over the CURRENT key memory: the head-mean attention rows of its
stored queries against the memory keys, averaged. That is a distribution over
the same key tokens as the window's centroids, so the paper's own test links
them: symmetric KL <= tau (SPEC 6, the criterion of the later merge levels).

- A centroid takes the id of its nearest track within tau; several centroids
  may take one id (an object split in this window stays one object).
- A centroid with no track within tau starts a new track; ids count up from
  0 (as the offline pipeline's clusters do) and are never reused.
- A track unseen for more than `max_age` windows is forgotten (bounded
  memory); until then it can be re-found (short occlusions).
- A track's re-expression is kept while neither its queries nor the key memory change (live, the memory
  changes every `ratio` frames and most tracks are not seen in a given window): only new and changed
  tracks are re-expressed, the same rows one by one as in a whole batch (tests/engine/test_tracking.py).

The chunked offline pipeline (attnseg.engine.offline.pipeline) links the clusters of
successive chunks with the same Tracker, one chunk per update: a chunk
covering the whole clip keeps the paper's cluster numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.clustering import REFERENCE_OPS, ClusterOps, attention_rows, group_means, kl_distance, safe_log
from ..settings import PAPER, StreamSettings

STREAM = StreamSettings()  # the defaults (attnseg.settings)
AFFINITY_BUDGET = 1 << 25  # attention entries re-expressing tracks at once (128 MiB of float32 rows, and their logs)


@dataclass
class Track:
    id: int
    queries: torch.Tensor  # (t, heads, d): a sample of the object's query tokens, its appearance
    last_seen: int  # window index


class Tracker:
    def __init__(self, tau: float = PAPER.tau, max_age: int = STREAM.max_age, tokens: int = STREAM.track_tokens,
                 ops: ClusterOps = REFERENCE_OPS, first_id: int = 0):
        self.tau, self.max_age, self.tokens, self.ops = tau, max_age, tokens, ops
        self.tracks: list[Track] = []
        self.next_id = first_id
        self.window = -1
        self._memory: torch.Tensor | None = None  # the key memory the kept re-expressions are over
        self._protos: dict[int, torch.Tensor] = {}  # track id -> its mean attention row over _memory

    def state_dict(self) -> dict:
        """Everything the next update depends on (tensors on the CPU), for a resumed run."""
        return {"next_id": self.next_id, "window": self.window,
                "tracks": [{"id": t.id, "queries": t.queries.cpu(), "last_seen": t.last_seen} for t in self.tracks]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.next_id, self.window = int(state["next_id"]), int(state["window"])
        self.tracks = [Track(int(t["id"]), t["queries"].to(device), int(t["last_seen"])) for t in state["tracks"]]
        self._memory, self._protos = None, {}

    def update(self, queries: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor,
               memory_keys: torch.Tensor, scale: float) -> torch.Tensor:
        """Track ids (n,) for the window's tokens.

        queries: (n, heads, d) the window's query tokens; labels: (n,) their cluster
        in this window (0..K-1); centroids: (K, m) those clusters over the memory's
        key tokens; memory_keys: (M, heads, N, d) the key frames in memory.
        Two host syncs a window (the clusters' sizes and their nearest tracks), none per cluster.
        """
        self.window += 1
        ids_of_cluster = self._link(centroids, memory_keys, scale)
        order = torch.argsort(labels, stable=True)
        sizes = torch.bincount(labels, minlength=centroids.shape[0]).tolist()
        by_id = {t.id: t for t in self.tracks}
        for cluster, members in enumerate(queries[order].split(sizes)):
            if sizes[cluster]:
                self._remember(ids_of_cluster[cluster], members, by_id)
        self.tracks = [t for t in self.tracks if self.window - t.last_seen <= self.max_age]
        alive = {t.id for t in self.tracks}
        self._protos = {i: p for i, p in self._protos.items() if i in alive}
        return torch.tensor(ids_of_cluster, dtype=torch.long, device=labels.device)[labels]

    def _link(self, centroids: torch.Tensor, memory_keys: torch.Tensor, scale: float) -> list[int]:
        """The track id of each centroid: its nearest track within tau, else a new one."""
        nearest = [-1] * centroids.shape[0]
        if self.tracks:
            protos = self._over_memory(memory_keys, scale)  # (tracks, m)
            dist = kl_distance(centroids, safe_log(centroids), protos, safe_log(protos))  # (K, tracks)
            best, which = dist.min(dim=1)
            nearest = torch.where(best <= self.tau, which, -1).tolist()
        ids = []
        for track in nearest:
            if track >= 0:
                ids.append(self.tracks[track].id)
            else:
                ids.append(self.next_id)
                self.next_id += 1
        return ids

    def _over_memory(self, memory_keys: torch.Tensor, scale: float) -> torch.Tensor:
        """Each track's mean attention row over the memory's key tokens: (tracks, m); those not kept are
        computed in as few affinities as fit AFFINITY_BUDGET entries (a chunk's memory holds many key frames,
        and hundreds of tracks may live)."""
        if self._memory is None or self._memory.shape != memory_keys.shape or not torch.equal(self._memory,
                                                                                               memory_keys):
            self._memory, self._protos = memory_keys, {}
        missing = [t for t in self.tracks if t.id not in self._protos]
        if missing:
            for track, proto in zip(missing, self._express(missing, memory_keys, scale)):
                self._protos[track.id] = proto
        return torch.stack([self._protos[t.id] for t in self.tracks])

    def _express(self, tracks: list[Track], memory_keys: torch.Tensor, scale: float) -> torch.Tensor:
        columns = memory_keys.shape[0] * memory_keys.shape[2]
        means, group, rows = [], [], 0  # rows: the group's query tokens, counted as it grows
        for track in tracks + [None]:
            if group and (track is None or (rows + track.queries.shape[0]) * columns > AFFINITY_BUDGET):
                queries = torch.cat([t.queries for t in group])  # (sum t, heads, d)
                sizes = torch.tensor([t.queries.shape[0] for t in group])
                owner = torch.repeat_interleave(torch.arange(len(group)), sizes)
                prob = attention_rows(self.ops, queries.permute(1, 0, 2).unsqueeze(0), memory_keys, scale)  # 1 'frame'
                means.append(group_means(prob, owner.to(prob.device), len(group)))
                group, rows = [], 0
            if track is not None:
                group.append(track)
                rows += track.queries.shape[0]
        return torch.cat(means)

    def _remember(self, track_id: int, queries: torch.Tensor, by_id: dict[int, Track]) -> None:
        if queries.shape[0] > self.tokens:  # an even spread over the object, deterministic
            pick = torch.linspace(0, queries.shape[0] - 1, self.tokens, device=queries.device).round().long()
            queries = queries[pick]
        queries = queries.clone()
        self._protos.pop(track_id, None)  # its appearance changes: re-expressed at the next link
        t = by_id.get(track_id)
        if t is not None:
            if t.last_seen == self.window:  # a second cluster of this window took this id
                queries = torch.cat([t.queries, queries])[: self.tokens]
            t.queries, t.last_seen = queries, self.window
            return
        by_id[track_id] = track = Track(track_id, queries, self.window)
        self.tracks.append(track)
