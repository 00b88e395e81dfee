"""The streaming runtime: drop policy, stalls, disconnects, worker errors, bounded memory."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from attnseg.engine import SegmentSettings, Segmenter
from attnseg.settings import StreamSettings
from attnseg.engine.live.sources import ArraySource, Frame, SourceDisconnected, open_source
from attnseg.engine.live.runtime import StreamRuntime, StreamError
from attnseg.model import WeightsInfo
from tests.conftest import tiny_frontend

RES = (32, 48)


def engine(delay: float = 0.0, fail_at: int | None = None, batch_size: int = 1, calls: list | None = None,
           **config) -> StreamRuntime:
    """A stream engine on the tiny front-end; batch_size 1: one front-end call per frame (as a live camera that
    keeps up), so `fail_at` names a frame; `calls` collects each call's batch size; `config`: the StreamSettings's,
    and the window, ratio and tau (the SegmentSettings's)."""
    clip = {k: config.pop(k) for k in ("window", "ratio", "tau") if k in config}
    seg = Segmenter(tiny_frontend(), WeightsInfo("random"), SegmentSettings(resolution=RES, batch_size=batch_size,
                                                                          **clip))
    run, calls = seg.run_frontend, calls if calls is not None else []

    def slow(images):
        calls.append(len(images))
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("boom in the front-end")
        time.sleep(delay)
        return run(images)

    seg.run_frontend = slow
    return StreamRuntime(seg, StreamSettings(**config))


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 40, 56, 3), dtype=np.uint8)


def test_a_file_is_processed_whole_and_in_order():
    eng = engine()
    results = list(eng.stream(ArraySource(frames(10))))
    assert [r.frame_id for r in results] == list(range(10))  # 3 + 3 + 3 + a short last window of 1
    assert all(r.mask.shape == (40, 56) and r.labels.shape == (2, 3) for r in results)
    assert min(r.mask.min() for r in results) == 0  # track ids count from 0, as offline
    stats = eng.stats.to_dict()
    assert stats["frames_in"] == stats["frames_processed"] == 10 and stats["frames_dropped"] == 0
    assert stats["ended_by"] == "end of source" and stats["latency_ms"]["p99"] > 0
    assert set(results[0].objects()) == set(np.unique(results[0].mask))


def test_the_stream_equals_the_offline_result_where_the_two_coincide():
    """SPEC 9c, agreement with the offline result on the same clip. One window of 3 frames against one key frame
    (ratio 10), where the offline later levels merge nothing (checked): the stream's memory, window and tracks then
    do the offline pipeline's work exactly, so every token's id is its offline cluster (ids are numbered the same
    way), through the runtime's threads and batches."""
    from attnseg.engine.preprocess import preprocess
    from attnseg.engine.synthetic import synthetic_clip
    from attnseg.model import cluster_video

    clip, _ = synthetic_clip(3, 96, 128)
    seg = Segmenter.from_checkpoint(random_weights=True, arch="vit_small_16", qk_gain=8.0,
                                    config=SegmentSettings(resolution=(64, 96), ratio=10))
    offline = seg.segment_video(clip)
    q, k = seg.run_frontend(preprocess(clip, (64, 96)))
    levels = cluster_video(q, k, seg.scale, ratio=10)
    assert levels.num_clusters == levels.level1_clusters > 3  # several objects, no later merge
    stream = StreamRuntime(seg, StreamSettings(causal=False)).stream(ArraySource(clip), warm_up=False)  # window 3, ratio 10
    assert np.array_equal(np.stack([r.labels for r in stream]), offline.labels)


def test_a_live_source_faster_than_the_engine_drops_stale_frames():
    """200 fps in, ~20 fps out, nothing carried: frames are dropped and counted, latency stays bounded (no
    backlog)."""
    eng = engine(delay=0.05)
    results = list(eng.stream(ArraySource(frames(120), fps=200, live=True), queue_size=2, carry=False))
    stats = eng.stats.to_dict()
    assert stats["frames_dropped"] > 50 and stats["frames_carried"] == 0 and not any(r.carried for r in results)
    assert stats["frames_processed"] + stats["frames_dropped"] == stats["frames_in"] == 120
    ids = [r.frame_id for r in results]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # each frame waits at most: 2 queued frames and its own work, ~0.05 s each, plus slack
    assert stats["latency_ms"]["p99"] < 1000


def test_a_mask_nobody_takes_is_never_made():
    """The full-size mask is upsampled, and a carried frame's flow computed, when a consumer first asks for it:
    a stream whose consumer looks at neither spends nothing on them."""
    eng = engine(delay=0.05)
    results = list(eng.stream(ArraySource(frames(60), fps=200, live=True), queue_size=2))
    stats = eng.stats.to_dict()
    assert stats["frames_carried"] > 10 and "upsample" not in stats["busy_s"]
    assert not any(r.maps.made for r in results)
    taken = results[-1]
    assert taken.mask.shape == (40, 56) and taken.maps.made  # asked: made then, once
    assert taken.mask is taken.mask


def test_frames_the_engine_cannot_take_get_carried_labels_in_order_and_flagged():
    """The same source with carrying (the default): every frame after the first segmented one comes out, in
    order; the skipped ones flagged as carried, with the last segmented frame's ids moved to them."""
    eng = engine(delay=0.05)
    results = list(eng.stream(ArraySource(frames(120), fps=200, live=True), queue_size=2))
    stats = eng.stats.to_dict()
    ids = [r.frame_id for r in results]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    carried = [r for r in results if r.carried]
    assert stats["frames_carried"] == len(carried) > 50 and stats["frames_processed"] == len(results) - len(carried)
    assert stats["frames_processed"] + stats["frames_carried"] + stats["frames_dropped"] == stats["frames_in"] == 120
    assert ids == list(range(ids[0], 120))  # nothing lost after the first segmented frame
    last_segmented = {}
    for r in results:
        if r.carried:
            assert r.mask.shape == (40, 56) and r.labels.shape == (2, 3) and r.coarse is not None
            assert set(np.unique(r.mask)) <= set(np.unique(last_segmented.mask))  # ids it had, moved
        else:
            last_segmented = r
    assert stats["latency_ms"]["p99"] < 1000


def test_wait_policy_loses_nothing_even_from_a_fast_live_source():
    eng = engine(delay=0.01)
    results = list(eng.stream(ArraySource(frames(30), fps=500, live=True), drop="wait"))
    assert len(results) == 30 and eng.stats.frames_dropped == 0


class Flaky:
    """Delivers `good` frames, then disconnects (or stalls)."""

    live, fps, name = True, 30.0, "flaky"

    def __init__(self, good: int, then: str = "disconnect"):
        self.good, self.then, self.n = good, then, 0
        self.images = frames(good)

    def read(self):
        if self.n == self.good:
            if self.then == "stall":
                time.sleep(30)
            raise SourceDisconnected("flaky: cable pulled")
        self.n += 1
        return Frame(self.n - 1, time.monotonic(), self.images[self.n - 1])

    def close(self):
        pass


def test_a_disconnect_ends_the_stream_with_the_results_so_far():
    eng = engine()
    results = list(eng.stream(Flaky(7), drop="wait"))  # a live source, but count every frame
    assert len(results) == 7  # the short last window too
    assert eng.stats.ended_by.startswith("source disconnected (flaky: cable pulled)")


def test_a_disconnect_can_reconnect():
    eng = engine()
    results = list(eng.stream(lambda: Flaky(4), on_disconnect="reconnect", reconnect_attempts=2, drop="wait"))
    assert len(results) == 12 and eng.stats.reconnects == 2
    assert [r.frame_id for r in results] == list(range(12))  # ids unique across reconnects


def test_a_stalled_source_ends_the_stream():
    eng = engine()
    start = time.monotonic()
    results = list(eng.stream(Flaky(5, then="stall"), stall_timeout=0.5, drop="wait"))
    assert len(results) == 5 and eng.stats.ended_by.startswith("source stalled")
    assert time.monotonic() - start < 15


def test_a_worker_error_surfaces_once_in_the_consumer():
    eng = engine(fail_at=5)
    got = []
    with pytest.raises(StreamError, match="front-end failed: boom in the front-end"):
        for r in eng.stream(ArraySource(frames(20))):
            got.append(r.frame_id)
    assert got == [0, 1, 2]  # the first window, computed before the failure, was delivered
    assert eng.stats.ended_by == "error in front-end"


def test_a_file_read_faster_than_segmented_is_batched_with_the_same_masks():
    """Frames waiting for the front-end go through it together (up to batch_size): the offline pipeline's
    batching, live. Results arrive whole, in order, with the masks of one-frame batches."""
    calls = []
    batched = [r.mask for r in engine(delay=0.02, batch_size=4, calls=calls).stream(ArraySource(frames(12)))]
    single = [r.mask for r in engine().stream(ArraySource(frames(12)))]
    assert max(calls) > 1 and sum(calls) == 1 + 12 and max(calls) <= 4  # the warm-up frame, then the clip
    assert len(batched) == 12 and all(np.array_equal(a, b) for a, b in zip(batched, single))


def test_the_consumer_can_stop_early():
    eng = engine()
    for r in eng.stream(ArraySource(frames(100))):
        if r.frame_id == 4:
            break
    assert eng.stats.ended_by == "stopped by the consumer"


def test_bad_sources_and_settings_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot open camera 9"):
        open_source("9")
    with pytest.raises(ValueError, match="source not found"):
        open_source(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot open video|no decodable frames"):
        src = open_source(str(bad))
        src.read()
    with pytest.raises(ValueError, match="unknown drop policy"):
        next(engine().stream(ArraySource(frames(3)), drop="newest"))
    with pytest.raises(ValueError, match="must be a whole number, got 'many'"):
        open_source("synthetic:many")


def test_a_synthetic_source_of_any_length_makes_its_frames_as_they_are_read():
    from attnseg.bench.latency import rss_bytes
    from attnseg.engine.synthetic import synthetic_clip

    expected, _ = synthetic_clip(5, 60, 80)
    src = open_source("synthetic:5", size=(60, 80))
    got = [src.read() for _ in range(6)]
    assert got[-1] is None and all(np.array_equal(f.image, e) for f, e in zip(got, expected))
    before = rss_bytes()
    src = open_source("synthetic:1000000", size=(240, 320))  # 230 GB, were it made up front
    images = [src.read().image for _ in range(20)]
    assert rss_bytes() - before < 50 * 2**20
    assert images[0].shape == (240, 320, 3) and len(src.frames) == 1_000_000


def test_long_stream_is_bounded():
    from attnseg.bench.latency import rss_bytes

    eng = engine(window=3, ratio=5, memory=3, max_age=4)
    n, marks = 3000, {}
    src = ArraySource(np.random.default_rng(0).integers(0, 255, (50, 40, 56, 3), dtype=np.uint8)[
        np.arange(n) % 50])
    with torch.inference_mode():
        for r in eng.stream(src):
            if r.frame_id in (999, 2999):
                marks[r.frame_id] = rss_bytes()
    assert eng.stats.frames_processed == n
    growth_mib = (marks[2999] - marks[999]) / 2**20
    assert growth_mib < 20, growth_mib  # frames 1000..3000 add nothing that stays
    assert len(eng.stats.latencies) <= 10000


def test_a_push_source_keeps_the_newest_frame_and_ends_when_closed():
    from attnseg.engine.live.sources import PushSource

    src = PushSource(capacity=1)
    for i in range(3):
        src.push(np.full((4, 4, 3), i, np.uint8), tag=f"t{i}")
    frame = src.read()
    assert src.dropped == 2 and frame.tag == "t2" and frame.id == 2 and (frame.image == 2).all()
    src.close()
    assert src.read() is None
    src.push(np.zeros((4, 4, 3), np.uint8))  # after close: ignored, not an error
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        PushSource().push(np.zeros((4, 4), np.uint8))


def test_pushed_frames_stream_with_their_tags_until_closed():
    import threading

    from attnseg.engine.live.sources import PushSource

    eng, src, clip = engine(), PushSource(capacity=4), frames(7)
    got = []
    consumer = threading.Thread(target=lambda: got.extend(eng.stream(src, drop="wait", stall_timeout=None)))
    consumer.start()
    for i, image in enumerate(clip):
        src.push(image, tag={"seq": i})
        while src.frames:  # no drops here: the point is the tags, the drops are tested above
            time.sleep(0.01)
    time.sleep(0.5)  # longer than the 0.2 s poll: an idle source is not a stall when stall_timeout is None
    src.close()
    consumer.join(timeout=30)
    assert [r.tag["seq"] for r in got] == list(range(7)) and eng.stats.ended_by == "end of source"
    assert all(np.array_equal(r.image, clip[r.tag["seq"]]) for r in got)


def test_warm_up_compiles_every_window_shape_before_the_first_frame():
    """With the Triton kernels (here interpreted), a window is clustered against 1, 2, ... memory key
    frames before the source opens, so no kernel specializes mid-stream; the reference needs none."""
    import dataclasses

    seg = Segmenter(tiny_frontend(), WeightsInfo("random"), SegmentSettings(resolution=RES, kernels="triton"))
    memories, order = [], []
    affinity = seg.ops.affinity

    def spy(q, k, scale):
        memories.append(k.shape[0])
        return affinity(q, k, scale)

    seg.ops = dataclasses.replace(seg.ops, affinity=spy)
    eng = StreamRuntime(seg, StreamSettings(memory=3))
    assert eng.warm_up() == 9 and {1, 2, 3} <= set(memories)  # causal: a window every frame, 3 a key frame

    warm_up = eng.warm_up
    eng.warm_up = lambda: order.append("warm-up") or warm_up()
    source = ArraySource(frames(4))
    read = source.read
    source.read = lambda: order.append("read") or read()
    assert len(list(eng.stream(source))) == 4 and order[0] == "warm-up" and order[1] == "read"

    reference = engine()
    assert reference.warm_up() == 0  # the reference compiles nothing; only the front-end ran, once


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_stream_on_the_gpu_keeps_its_device_memory_flat(artifact_cache):
    """The runtime's device work on CUDA: warm-up, kernels as auto measures them, every frame in order,
    and device memory after 90 frames what it was after 30 (nothing grows with the stream)."""
    seg = Segmenter(tiny_frontend(), WeightsInfo("random"), SegmentSettings(resolution=RES), device="cuda")
    eng = StreamRuntime(seg, StreamSettings(memory=3))
    memory = {}
    for i, r in enumerate(eng.stream(ArraySource(frames(90))), 1):
        assert r.frame_id == i - 1
        if i in (30, 90):
            memory[i] = torch.cuda.memory_allocated()
    assert len(memory) == 2 and memory[90] - memory[30] < 2**20


def test_the_front_end_leaves_out_k_for_frames_that_will_not_be_key_frames():
    """Every ratio-th frame's k is kept; the others go through the eager front-end's queries alone, and the
    labels are the same as with every k computed."""
    def run(without_k: bool):
        seg = Segmenter(tiny_frontend(), WeightsInfo("random"), SegmentSettings(resolution=RES, batch_size=1, ratio=3))
        calls = {"both": 0, "queries": 0}
        full, queries = seg.run_frontend, seg.run_frontend.queries

        def both(images):
            calls["both"] += 1
            return full(images)
        both.queries = lambda images: calls.__setitem__("queries", calls["queries"] + 1) or queries(images)
        seg.run_frontend = both if without_k else (lambda images: both(images))
        results = list(StreamRuntime(seg, StreamSettings()).stream(ArraySource(frames(12)), warm_up=False))
        return np.stack([r.mask for r in results]), calls

    skipped, calls = run(True)
    every, calls_every = run(False)
    assert calls == {"both": 4, "queries": 8} and calls_every == {"both": 12, "queries": 0}
    assert np.array_equal(skipped, every)


@pytest.mark.parametrize("live", [False, True])
def test_a_consumer_that_stops_ends_every_worker_within_a_second(live):
    """Ctrl-C in `attnseg stream` or the demo closes the stream's iterator: every worker ends promptly (the
    clustering worker waited for an end marker that never came, and the close waited 5 s for it)."""
    import threading

    results = engine().stream(ArraySource(frames(400), fps=100.0, live=live), warm_up=False)
    for _ in zip(range(5), results):
        pass
    began = time.monotonic()
    results.close()
    assert time.monotonic() - began < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("attnseg-") and t.is_alive()]


def test_a_source_played_in_real_time_is_a_camera_unless_asked_to_wait():
    """Played at its own pace (realtime), a file's frames go stale as a camera's do: an engine slower than the pace
    carries what waits instead of queueing it, so capture to mask stays short; with drop="wait" every frame is
    queued and segmented, and its latency grows with the queue."""
    clip = frames(24)  # one second at 24 fps, for an engine of ~6 fps
    paced = engine(delay=0.15)
    got = list(paced.stream(ArraySource(clip, realtime=True), realtime=True, warm_up=False))
    waited = engine(delay=0.15)
    queued = list(waited.stream(ArraySource(clip, realtime=True), realtime=True, drop="wait", warm_up=False))
    assert len(got) == len(queued) == 24  # every frame gets labels either way: segmented or carried
    assert paced.stats.frames_carried > 0 and paced.stats.frames_processed < 24
    assert waited.stats.frames_processed == 24 and waited.stats.frames_carried == 0
    late, kept = paced.stats.to_dict()["mask_latency_ms"]["p99"], waited.stats.to_dict()["mask_latency_ms"]["p99"]
    assert late < kept / 2, (late, kept)


def test_the_stats_say_where_each_stage_s_time_went():
    """busy_s: seconds each stage worked (the front-end's calls, here 50 ms each, the clustering, the upsampling,
    the carrying, the capture's decoding), busy_share: per second of the stream; a stage runs on one thread, so
    its share is about 1 at most (a little over where it works on after its source's end, which ends the
    stream's seconds)."""
    slow = engine(delay=0.05)
    results = [r for r in slow.stream(ArraySource(frames(12)), warm_up=False) if r.mask is not None]  # each taken
    stats = slow.stats.to_dict()
    assert len(results) == 12 and {"capture", "front-end", "clustering", "upsample"} <= set(stats["busy_s"])
    assert stats["busy_s"]["front-end"] >= 12 * 0.05
    assert all(0 <= share <= 1.5 for share in stats["busy_share"].values()), stats["busy_share"]
    assert stats["busy_share"]["front-end"] > stats["busy_share"]["upsample"]
