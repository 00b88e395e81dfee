"""`attnseg batch --ray` on a local Ray cluster: a worker SIGKILLed mid-run loses at most its current video,
outputs equal the in-process batch, and a re-run skips everything finished. Slow: starts Ray (~10 s)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="Ray not installed (pip install 'attnseg[ray]')")

from attnseg.engine import SegmentSettings, Segmenter  # noqa: E402
from attnseg.integrations.ray_batch import run_ray_batch  # noqa: E402
from attnseg.settings import ModelSettings, SessionSettings  # noqa: E402
from tests.engine.offline.test_batch import make_videos  # noqa: E402

MODEL = {"random_weights": True, "arch": "vit_small_16", "qk_gain": 4.0}
CONFIG = SegmentSettings(resolution=(96, 128), tau=0.001)
SESSION = SessionSettings(model=ModelSettings(**MODEL), segment=CONFIG)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    # no GPU for the actors: what they write is compared bit for bit with a CPU run in this process
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _kill_first_worker(out, killed):
    """SIGKILL the actor that finished the first video: by then it is on its next one."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list(out.glob("*/result.json"))
        if done:
            pid = json.loads(done[0].read_text())["worker_pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, done[0].parent.name))
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_worker_costs_at_most_its_video_and_a_rerun_skips_the_rest(tmp_path, ray_cluster):
    videos = make_videos(tmp_path / "in", count=5, frames=16)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_bytes(b"not a video")
    inputs = [*videos[:2], str(bad), *videos[2:]]
    out, killed = tmp_path / "out", []
    killer = threading.Thread(target=_kill_first_worker, args=(out, killed))
    killer.start()
    records = run_ray_batch(inputs, out, SESSION, actors=1)
    killer.join()
    assert killed, "the worker was never killed"
    status = {r["video"]: r["status"] for r in records}
    assert len(records) == 6 and status[str(bad)] == "failed"
    # "skipped" only if the kill fell between a video's rename into place and the reply: its output was kept
    assert all(status[v] in ("done", "skipped") for v in videos) and sum(status[v] == "skipped" for v in videos) <= 1
    pid, first = killed[0]
    by_dead = {r["video"] for r in records if r.get("worker_pid") == pid}
    by_restarted = {r["video"] for r in records if r["status"] == "done" and r["worker_pid"] != pid}
    # killed mid-run; a restarted actor went on. If the kill fell between the first video's rename into
    # place and the reply, that video is "skipped" on its retry (kept, not redone) and carries no pid.
    first_video = str(tmp_path / "in" / first)
    assert (first_video in by_dead or status[first_video] == "skipped") and by_restarted
    assert len(by_dead) + len(by_restarted) >= 4 and not by_dead & by_restarted  # no video was done twice
    assert sorted(p.name for p in out.iterdir()) == [f"clip{i}" for i in range(5)]  # no partial folder left
    reference = Segmenter.from_checkpoint(config=CONFIG, **MODEL)
    for i, video in enumerate(videos):  # what the actors wrote is what one process computes
        assert np.array_equal(np.load(out / f"clip{i}" / "labels.npy"), reference.segment_video(video).labels)
    rerun = run_ray_batch(inputs, out, SESSION, actors=1)
    assert {r["video"]: r["status"] for r in rerun} == {**{v: "skipped" for v in videos}, str(bad): "failed"}
