"""A display of the newest frame gets every frame of a carrying source as soon as it is read (the preview), its
labels carried when it is drawn; the ordered results are unchanged."""
from __future__ import annotations

import threading

import numpy as np

from attnseg.engine.live.sources import ArraySource
from attnseg.engine.outputs.fanout import OutputFrame
from attnseg.view import LiveServer
from tests.engine.live.test_runtime import engine, frames


def test_every_frame_is_previewed_at_once_and_the_ordered_results_stay_the_same():
    seen, lock = [], threading.Lock()

    def preview(r):
        with lock:
            seen.append(r)

    eng = engine(delay=0.05)
    results = list(eng.stream(ArraySource(frames(90), fps=200, live=True), queue_size=2, preview=preview))
    stats = eng.stats.to_dict()
    ids = [r.frame_id for r in results]
    assert ids == sorted(ids) and stats["frames_carried"] > 30  # the ordered results, as without a preview
    previewed = [r.frame_id for r in seen]
    assert previewed == list(range(previewed[0], 90))  # every frame, from the first read after a segmented one
    assert previewed[0] <= ids[-1] - 40
    assert all(r.carried and not r.maps.made for r in seen)  # nothing made until a display draws it
    first_result = {r.frame_id: r.delivered for r in results}
    late = [r for r in seen if r.frame_id in first_result and r.timestamp + r.latency > first_result[r.frame_id]]
    assert len(late) < len(seen) / 4  # handed over before the ordered result of the same frame, nearly always
    drawn = seen[-1]
    assert drawn.mask.shape == (40, 56) and set(np.unique(drawn.mask)) <= set(np.unique(results[-1].mask)) | \
        {i for r in results if not r.carried for i in np.unique(r.mask)}


def test_without_a_preview_nothing_is_previewed_and_a_source_that_does_not_carry_has_none():
    seen = []
    eng = engine(delay=0.01)
    list(eng.stream(ArraySource(frames(20), fps=200, live=True), queue_size=2, carry=False, preview=seen.append))
    assert seen == []


def test_the_page_shows_no_frame_older_than_the_one_it_shows():
    server = LiveServer(port=0)
    try:
        image, labels = np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60), np.int32)
        for index in (5, 6, 4, 6):  # the preview of 5 and 6, then the ordered results of 4 and 6
            server.write(OutputFrame(index, str(index), labels, labels, image=image, stats={"fps": index},
                                     captured=float(index)))
        assert server.shown.index == 6 and server.stats == {"fps": 6}  # the figures: the last written
        assert sorted(server.captured) == [5, 6]
    finally:
        server.close()
