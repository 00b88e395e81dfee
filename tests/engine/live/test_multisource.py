"""Several sources in one runtime: one front-end call for the frames of all, each source tracked on its own, a
source that ends or dies ending alone."""
from __future__ import annotations

import time

import numpy as np

from attnseg.engine.live.sources import ArraySource, Frame
from tests.engine.live.test_runtime import Flaky, engine, frames


def by_source(results) -> dict[int, list]:
    out: dict[int, list] = {}
    for r in results:
        out.setdefault(r.source, []).append(r)
    return out


def test_each_source_gets_the_masks_and_ids_it_gets_alone_from_shared_front_end_calls():
    clips = [frames(9, seed=1), frames(6, seed=2), frames(9, seed=3)]
    alone = [[r.mask for r in engine().stream(ArraySource(c))] for c in clips]
    calls = []
    eng = engine(delay=0.02, batch_size=4, calls=calls)
    together = by_source(eng.stream([ArraySource(c, name=f"cam{i}") for i, c in enumerate(clips)]))
    assert sorted(together) == [0, 1, 2]
    for i, clip in enumerate(clips):
        got = together[i]
        assert [r.frame_id for r in got] == list(range(len(clip)))  # each source in its order, its own ids
        assert all(np.array_equal(r.mask, a) for r, a in zip(got, alone[i]))  # its own tracks, from 0
    assert max(calls) > 1 and sum(calls) == 1 + 24  # frames of several sources in one call (after the warm-up)
    stats = eng.stats.to_dict()
    assert stats["frames_in"] == stats["frames_processed"] == 24
    assert [s["name"] for s in stats["sources"]] == ["cam0", "cam1", "cam2"]
    assert [s["frames_processed"] for s in stats["sources"]] == [9, 6, 9]
    assert stats["ended_by"] == "cam0: end of source; cam1: end of source; cam2: end of source"
    assert stats["end_reason"] == "end of source"


def test_a_source_that_disconnects_ends_alone_and_the_others_go_on():
    eng = engine()
    results = by_source(eng.stream([lambda: Flaky(4), ArraySource(frames(12), name="file")], drop="wait"))
    assert len(results[0]) == 4 and len(results[1]) == 12  # the dead source's last window is clustered too
    first, second = eng.source_stats
    assert first.ended_by == "source disconnected (flaky: cable pulled)" and second.ended_by == "end of source"
    assert first.finished < second.finished


def test_a_source_that_fails_ends_alone_saying_why():
    class Broken:
        """A file whose fourth frame cannot be read."""

        live, fps, name = False, 24.0, "broken"

        def __init__(self):
            self.images = frames(3)
            self.n = 0

        def read(self):
            if self.n == 3:
                raise OSError("disk read error")
            self.n += 1
            return Frame(self.n - 1, time.monotonic(), self.images[self.n - 1])

        def close(self):
            pass

    eng = engine()
    results = by_source(eng.stream([Broken(), ArraySource(frames(7))]))
    assert len(results[0]) == 3 and len(results[1]) == 7
    assert eng.source_stats[0].ended_by == "error in capture: disk read error"


def test_a_stalled_source_ends_alone():
    eng = engine()
    results = by_source(eng.stream([Flaky(3, then="stall"), ArraySource(frames(5), live=True, fps=5)],
                                   stall_timeout=0.5, drop="wait"))
    assert len(results[0]) == 3 and len(results[1]) == 5
    assert eng.source_stats[0].ended_by.startswith("source stalled") and eng.source_stats[1].ended_by == "end of source"
