"""Several sources on one view: ids kept apart whatever their count."""
import numpy as np

from attnseg.engine.outputs.fanout import OutputFrame
from attnseg.view.tiles import Tiles, tiled_id, tiled_name


def frame(source: int, labels: np.ndarray) -> OutputFrame:
    mask = np.kron(labels, np.ones((8, 8), np.int32))
    image = np.zeros((*mask.shape, 3), np.uint8)
    return OutputFrame(0, "00000", labels, mask, 0, image, 0.0, {}, source=source)


def test_ids_of_several_sources_never_overlap_whatever_their_count():
    """Source 0 alone past 2000 ids (random weights in a long stream) still cannot show as another source's."""
    shown = []
    tiles = Tiles(3, shown.append)
    grids = [np.arange(6, dtype=np.int32).reshape(2, 3) * 997 + s for s in range(3)]  # ids up to 4987
    for s, g in enumerate(grids):
        tiles.write(frame(s, g))
    grid = shown[-1].grid
    pairs = {}
    for s, g in enumerate(grids):
        r, c = divmod(s, 2)
        tile = grid[r * 2:(r + 1) * 2, c * 3:(c + 1) * 3]
        assert np.array_equal(tile, tiled_id(s, g, 3))
        for shown_id, object_id in zip(tile.ravel(), g.ravel()):
            assert tiled_name(int(shown_id), 3) == f"{s}:{object_id}"
            pairs[int(shown_id)] = (s, int(object_id))
    assert len(pairs) == 18  # 18 (source, id) pairs, 18 shown ids


def test_a_single_source_keeps_its_ids_and_names():
    assert tiled_id(0, 2345, 1) == 2345 and tiled_name(2345, 1) == "2345"
