"""COCO run-length masks in YouTube-VIS's results layout: decoded with pycocotools, equal to the label maps bit for
bit; bounded memory; through segment, batch and stream."""
from __future__ import annotations

import json

import numpy as np
import pytest

from attnseg.cli import main
from attnseg.engine.outputs.coco import CocoResults, encode_objects

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools not installed")
MANY = ["--random-weights", "--qk-gain", "20", "--arch", "vit_small_16", "--resolution", "48", "64"]  # ~30 ids
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own, under numpy 2


def decode(path) -> dict[int, dict[int, list]]:
    """video_id -> object id (its place in the file) -> its segmentations, each decoded to a bool mask or None."""
    out: dict[int, dict[int, list]] = {}
    for entry in json.loads(path.read_text()):
        assert set(entry) == {"video_id", "category_id", "score", "segmentations"}
        assert entry["category_id"] == 1 and entry["score"] == 1.0
        objects = out.setdefault(entry["video_id"], {})
        objects[len(objects)] = [None if s is None else mask_api.decode({"size": s["size"],
                                                                         "counts": s["counts"].encode()}).astype(bool)
                                 for s in entry["segmentations"]]
    return out


def assert_same_as(decoded: dict[int, list], maps: np.ndarray) -> None:
    """The decoded objects, in order, are the ids of `maps` in increasing order, each mask bit for bit, absent
    frames null."""
    ids = np.unique(maps)
    assert len(decoded) == len(ids)
    for (place, segs), obj in zip(sorted(decoded.items()), ids):
        assert len(segs) == len(maps)
        for seg, m in zip(segs, maps):
            if (m == obj).any():
                assert seg is not None and seg.shape == m.shape and np.array_equal(seg, m == obj)
            else:
                assert seg is None


def write_coco(dest, masks) -> None:
    """A whole clip's (T, H, W) masks as a results file, frame by frame as the outputs write them."""
    results = CocoResults(dest)
    for index, mask in enumerate(masks):
        results.write(index, mask, 1)
    results.close()


def test_every_object_decodes_to_its_label_map_bit_for_bit(tmp_path, rng):
    maps = np.kron(rng.integers(0, 7, (5, 9, 13)), np.ones((1, 7, 5), int)).astype(np.int32)  # 63 x 65
    maps[2] = 3  # one frame holding a single object: its counts start with a run of no zeros
    maps[3, -1, -1] = 1000  # an id in one pixel of one frame
    write_coco(tmp_path / "r.json", maps)
    assert_same_as(decode(tmp_path / "r.json")[1], maps)
    for m in maps:  # and each string is exactly pycocotools' own
        for obj, counts in encode_objects(m).items():
            assert counts == mask_api.encode(np.asfortranarray((m == obj).astype(np.uint8)))["counts"].decode()


def test_objects_past_the_memory_budget_are_gathered_in_several_passes_with_the_same_file(tmp_path, rng):
    maps = rng.integers(0, 12, (6, 20, 30)).astype(np.int32)
    write_coco(tmp_path / "one.json", maps)
    several = CocoResults(tmp_path / "several.json", budget=200)  # a few objects' runs at a time
    for i, m in enumerate(maps):
        several.write(i, m)
    assert len(several._groups()) > 3
    several.close()
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "several.json").read_bytes()
    assert not list(tmp_path.glob(".*"))  # the spool is gone


def test_frames_never_written_are_null_and_videos_are_told_apart(tmp_path):
    results = CocoResults(tmp_path / "r.json")
    results.write(0, np.zeros((4, 4), np.int32), video_id=1)
    results.write(3, np.ones((4, 4), np.int32), video_id=1)  # frames 1 and 2 dropped
    results.write(0, np.full((2, 3), 5, np.int32), video_id=2)
    results.close()
    entries = json.loads((tmp_path / "r.json").read_text())
    assert [(e["video_id"], [s is not None for s in e["segmentations"]]) for e in entries] == [
        (1, [True, False, False, False]), (1, [False, False, False, True]), (2, [True])]


def test_segment_writes_it_beside_the_label_pngs_and_the_same_masks(tmp_path, synthetic_folder):
    from PIL import Image

    args = ["segment", str(synthetic_folder), *MANY, "--no-progress", "--out", str(tmp_path / "png"), "--coco",
            str(tmp_path / "r.json")]
    assert main(args) == 0
    pngs = np.stack([np.array(Image.open(p)) for p in sorted((tmp_path / "png").glob("*.png"))]).astype(np.int32)
    assert len(np.unique(pngs)) > 1
    assert_same_as(decode(tmp_path / "r.json")[1], pngs)


def test_batch_gathers_every_finished_video_in_the_order_of_its_inputs(tmp_path, synthetic_folder):
    from PIL import Image

    other = tmp_path / "other"
    other.mkdir()
    for p in sorted(synthetic_folder.glob("*.png"))[:3]:
        Image.open(p).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other / p.name)
    flags = MANY
    assert main(["batch", str(synthetic_folder), "--out", str(tmp_path / "out"), *flags]) == 0
    # a re-run with a second input: the first is skipped (finished before) and still in the file, as video 1
    assert main(["batch", str(synthetic_folder), str(other), "--out", str(tmp_path / "out"), *flags,
                 "--coco", str(tmp_path / "all.json")]) == 0
    decoded = decode(tmp_path / "all.json")
    for video_id, name in ((1, synthetic_folder.name), (2, "other")):
        pngs = np.stack([np.array(Image.open(p)) for p in sorted((tmp_path / "out" / name).glob("*.png"))])
        assert_same_as(decoded[video_id], pngs.astype(np.int32))


def test_stream_writes_the_frames_it_segmented(tmp_path, synthetic_folder):
    from PIL import Image

    args = ["stream", str(synthetic_folder), *MANY, "--no-progress", "--out", str(tmp_path / "png"), "--coco",
            str(tmp_path / "r.json")]
    assert main(args) == 0
    pngs = np.stack([np.array(Image.open(p)) for p in sorted((tmp_path / "png").glob("*.png"))]).astype(np.int32)
    assert len(pngs) == 7
    assert_same_as(decode(tmp_path / "r.json")[1], pngs)


def test_a_coco_path_that_cannot_be_written_is_one_line_before_any_work(tmp_path, synthetic_folder, capsys):
    (tmp_path / "taken").mkdir()
    blocked = tmp_path / "file"
    blocked.write_text("")
    for path, says in ((tmp_path / "taken", "it is a folder"), (blocked / "r.json", "cannot write")):
        for command in (["segment", str(synthetic_folder)], ["batch", str(synthetic_folder), "--out",
                                                             str(tmp_path / "b")]):
            assert main([*command, "--random-weights", "--coco", str(path)]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert err[-1].startswith("attnseg: error: cannot write") and says in err[-1], err
            assert not any("RANDOM WEIGHTS" in line for line in err)  # before the weights load
