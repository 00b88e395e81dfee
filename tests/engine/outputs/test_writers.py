

def test_a_folder_whose_ids_pass_255_ends_in_one_format(tmp_path, monkeypatch):
    """Frames before the first id above 255 were palette PNGs and the later ones 16-bit: one folder, two formats
    (and the warning broke into the progress bar). Closing rewrites the earlier ones, and says so then."""
    import numpy as np
    from PIL import Image

    from attnseg.engine.outputs import writers

    said = []
    monkeypatch.setattr(writers.log, "warning", lambda msg, *args: said.append(msg % args))
    pngs = writers.LabelPngs(tmp_path)
    small, large = np.full((4, 6), 7, np.int32), np.full((4, 6), 300, np.int32)
    for i, mask in enumerate([small, small, large, small]):
        pngs.write(f"{i:05d}", mask)
    assert said == []  # nothing said during the work
    pngs.close()
    modes = {p.name: Image.open(p).mode for p in sorted(tmp_path.glob("*.png"))}
    assert len(modes) == 4 and len(set(modes.values())) == 1 and "P" not in modes.values()
    assert [int(np.asarray(Image.open(tmp_path / f"{i:05d}.png")).max()) for i in range(4)] == [7, 7, 300, 7]
    assert len(said) == 1 and "from frame 00002 on" in said[0] and "(2 rewritten" in said[0]


def test_a_resumed_run_that_keeps_its_frames_still_ends_in_one_format(tmp_path):
    """Killed while the earlier PNGs were being rewritten: the resumed run keeps every PNG already there, and its
    closing rewrites the palette ones still left (the same folder as an uninterrupted run's)."""
    import numpy as np
    from PIL import Image

    from attnseg.engine.outputs import writers

    small, large = np.full((4, 6), 7, np.int32), np.full((4, 6), 300, np.int32)
    writers.write_label_png(tmp_path / "00000.png", small)  # palette: left by the kill
    writers.write_label_png(tmp_path / "00001.png", large)
    pngs = writers.LabelPngs(tmp_path, keep_existing=True)
    for i, mask in enumerate([small, large]):
        pngs.write(f"{i:05d}", mask)
    pngs.close()
    assert {Image.open(p).mode for p in tmp_path.glob("*.png")} == {"I;16"}
