"""The bench's default load: a random paper-format checkpoint the real reader loads, on DAVIS frames."""
import torch

from attnseg.bench.load import QK_GAIN, davis_clip, paper_checkpoint
from attnseg.model.build import random_frontend
from attnseg.model.checkpoints import read_checkpoint


def test_the_paper_checkpoint_loads_through_the_real_reader_with_its_gain(tmp_path):
    path = paper_checkpoint(tmp_path, "vit_small_16", qk_gain=2.0)
    assert path == paper_checkpoint(tmp_path, "vit_small_16", qk_gain=2.0)  # written once
    weights = read_checkpoint(path)
    want = random_frontend("vit_small_16", seed=0, qk_gain=2.0).st.qk.weight
    dim = want.shape[1]
    assert torch.equal(weights.st["attn.qkv.weight"][: 2 * dim], want) and QK_GAIN > 1


def test_the_davis_clip_is_found_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared here
    monkeypatch.delenv("ATTNSEG_DAVIS", raising=False)
    assert davis_clip() is None
    (tmp_path / "d" / "JPEGImages" / "480p" / "blackswan").mkdir(parents=True)
    monkeypatch.setenv("ATTNSEG_DAVIS", str(tmp_path / "d"))
    assert davis_clip() == tmp_path / "d" / "JPEGImages" / "480p" / "blackswan"
