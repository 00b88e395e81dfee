"""rosbag2 output through `rosbags`: written atomically, read back bit-exactly."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags not installed (pip install 'attnseg[ros]')")

from attnseg.integrations.ros_messages import rgb_from_fields  # noqa: E402
from attnseg.integrations.rosbag import RosbagSink, read_images, read_label_bag  # noqa: E402


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("encoding", ["mono16", "32SC1"])
def test_bag_round_trip_is_bit_exact(tmp_path, storage, encoding):
    rng = np.random.default_rng(0)
    high = 65535 if encoding == "mono16" else 10**6
    maps = [rng.integers(0, high, (9, 14)).astype(np.int32) for _ in range(5)]
    stamps = [1_700_000_000_000_000_000 + i * 41_666_667 for i in range(5)]
    with RosbagSink(tmp_path / "bag", storage=storage, encoding=encoding, frame_id="cam0",
                    overlay_topic="/attnseg/overlay") as bag:
        for stamp, m in zip(stamps, maps):
            bag.write(stamp, m, np.full((9, 14, 3), stamp % 251, np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]  # nothing left beside it
    back = read_label_bag(tmp_path / "bag")
    assert [t for t, _, _ in back] == stamps and {f for _, f, _ in back} == {"cam0"}
    assert all(np.array_equal(b, m) for (_, _, b), m in zip(back, maps))
    overlays = read_images(tmp_path / "bag", "/attnseg/overlay")
    assert [t for t, _, _ in overlays] == stamps
    assert all(rgb_from_fields(**{k: v for k, v in f.items() if k != "is_bigendian"}).tolist()
               == np.full((9, 14, 3), t % 251, np.uint8).tolist() for t, _, f in overlays)


def test_bag_is_published_only_when_closed_and_existing_is_refused(tmp_path):
    bag = RosbagSink(tmp_path / "bag")
    bag.write(1, np.zeros((2, 2), np.int32))
    assert not (tmp_path / "bag").exists()  # a half-written bag never carries the name
    bag.close()
    bag.close()
    assert len(read_label_bag(tmp_path / "bag")) == 1
    with pytest.raises(ValueError, match="already exists"):
        RosbagSink(tmp_path / "bag")
    with pytest.raises(ValueError, match="no topic /other"):
        read_label_bag(tmp_path / "bag", "/other")

