"""The ROS node's work without ROS: headers travel with their frames, stale frames are dropped unprocessed,
and the published labels equal the streaming runtime's on the same processed frames."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from attnseg.engine import SegmentSettings, Segmenter, StreamSettings, StreamRuntime
from attnseg.engine.live.sources import ArraySource
from attnseg.engine.session import Session
from attnseg.integrations.ros_bridge import SegmentationBridge
from attnseg.integrations.ros_messages import label_image_fields, labels_from_fields
from attnseg.model import WeightsInfo
from attnseg.presets import PRESETS
from attnseg.settings import SessionSettings
from tests.conftest import tiny_frontend

CLIP = SegmentSettings(resolution=(48, 64), window=3, ratio=2, tau=0.001)  # 6-11 ids per frame: a real check
CONFIG = StreamSettings(memory=2)


def segmenter() -> Segmenter:
    return Segmenter(tiny_frontend(), WeightsInfo("random"), CLIP)


def session() -> Session:
    """The node's session (the "robot" runtime: the newest frame only) on the tiny front-end."""
    seg = segmenter()
    return Session(SessionSettings(segment=seg.config, stream=CONFIG, runtime=PRESETS["robot"].runtime), segmenter=seg)


def camera(n: int) -> np.ndarray:
    """Frames whose first pixel row says their index, so a result can be matched to what was sent."""
    clip = np.random.default_rng(3).integers(0, 255, (n, 60, 80, 3), dtype=np.uint8)
    clip[:, 0, :, :] = np.arange(n, dtype=np.uint8)[:, None, None]
    return clip


def test_headers_come_back_with_their_frames_whatever_is_dropped():
    """A camera faster than the engine: some frames are dropped (how many depends on the machine's speed), and each
    published result carries the header of its own frame, in order."""
    clip, now = camera(12), [10**18]
    published, lock = [], threading.Lock()

    def publish(header, result):
        with lock:  # what the node does: a message from the label fields, with the input's header
            published.append((header, label_image_fields(result.mask, "mono16"), result.image))

    bridge = SegmentationBridge(session(), publish, max_frame_age_s=0.5, clock_ns=lambda: now[0])
    for i, image in enumerate(clip):
        header = {"stamp_ns": now[0], "frame_id": "cam", "seq": i}
        assert bridge.on_image(header, now[0], 60, 80, "bgr8", 240, image[:, :, ::-1].tobytes())
        time.sleep(0.02)  # a camera at ~50 fps: the engine may drop some, which is the point of the test
        now[0] += 20_000_000
    bridge.close()
    assert bridge.error is None and 1 <= len(published) <= 12
    seqs = [h["seq"] for h, _, _ in published]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for header, fields, image in published:
        assert (image[0] == header["seq"]).all() and header["frame_id"] == "cam"  # the frame's own header
    stats = bridge.stats()  # under load some frames are carried (labels moved by optical flow), published too
    assert stats["frames_processed"] + stats["frames_carried"] == len(published) and stats["frames_stale"] == 0
    assert stats["frames_dropped"] == 12 - len(published)


def test_labels_equal_the_runtimes_on_the_same_frames_segmented_the_same_way():
    """The labels compared are pinned, whatever the machine's load: each frame is sent once the one before it was
    published (none dropped, each segmented alone), and the runtime gets the same frames one at a time."""
    clip, now = camera(12), [10**18]
    published, arrived = [], threading.Condition()

    def publish(header, result):
        with arrived:
            published.append(labels_from_fields(**{k: v for k, v in label_image_fields(result.mask, "mono16").items()
                                                   if k in ("height", "width", "encoding", "is_bigendian", "step",
                                                            "data")}))
            arrived.notify_all()

    bridge = SegmentationBridge(session(), publish, max_frame_age_s=0, clock_ns=lambda: now[0])
    for i, image in enumerate(clip):
        assert bridge.on_image({"seq": i}, now[0], 60, 80, "rgb8", 240, image.tobytes())
        with arrived:
            assert arrived.wait_for(lambda: len(published) == i + 1, timeout=60), f"frame {i} never came back"
    bridge.close()
    assert bridge.error is None and bridge.stats()["frames_dropped"] == 0
    want = [r.mask for r in StreamRuntime(segmenter(), CONFIG).stream(ArraySource(clip), drop="wait", queue_size=1)]
    assert len(want) == len(published) == 12 and all(np.array_equal(w, g) for w, g in zip(want, published))
    assert max(np.unique(g).size for g in published) > 1


def test_stale_frames_are_dropped_before_any_work():
    published = []
    bridge = SegmentationBridge(session(), lambda h, r: published.append(h), max_frame_age_s=0.5,
                                clock_ns=lambda: 10 * 10**9)
    image = camera(1)[0]
    assert not bridge.on_image("old", 9 * 10**9, 60, 80, "rgb8", 240, image.tobytes())  # 1 s old
    assert bridge.on_image("fresh", int(9.6 * 10**9), 60, 80, "rgb8", 240, image.tobytes())  # 0.4 s old
    bridge.close()
    assert published == ["fresh"] and bridge.stats()["frames_stale"] == 1


def test_a_bad_encoding_is_refused_and_the_stream_goes_on():
    published = []
    bridge = SegmentationBridge(session(), lambda h, r: published.append(h), max_frame_age_s=0)
    with pytest.raises(ValueError, match="bayer_rggb8"):
        bridge.on_image("bad", 0, 60, 80, "bayer_rggb8", 80, bytes(4800))
    bridge.on_image("good", 0, 60, 80, "rgb8", 240, camera(1)[0].tobytes())
    bridge.close()
    assert published == ["good"] and bridge.error is None
