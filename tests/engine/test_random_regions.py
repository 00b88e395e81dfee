"""Random weights (no weights at hand) show tens of regions on every preset's own path, with small ids: their q/k
gain is chosen per ViT and resolution (attnseg.settings.random_qk_gain, measured by benchmarks/random_gain.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attnseg import Segmenter
from attnseg.engine.live.runtime import stream
from attnseg.engine.live.sources import ArraySource
from attnseg.engine.synthetic import synthetic_clip
from attnseg.presets import PRESETS
from attnseg.settings import Backend, Device, ModelSettings, SessionSettings, random_qk_gain

FRAMES = {"sample": 24}  # the generated sample clip (a disc and a square over a texture): `attnseg sample`'s 24


def labels_of(preset: str, **model_changes) -> np.ndarray:
    base = PRESETS[preset]
    model = dataclasses.replace(base.model, random_weights=True, device=Device.CPU, **model_changes)
    segment = dataclasses.replace(base.segment, backend=Backend.EAGER)
    segmenter = Segmenter.from_settings(SessionSettings(model=model, segment=segment))
    clip = synthetic_clip(FRAMES.get(preset, 12))[0]
    if preset == "live":  # the demo's path: the stream's causal windows and tracked ids
        return np.stack([r.labels for r in stream(ArraySource(clip), segmenter=segmenter, config=base.stream)])
    return np.asarray(segmenter.segment_video(clip).labels)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_shows_tens_of_regions_with_small_ids(preset):
    """vit_small_16 at the live size at the old fixed gain 6 was a checkerboard (hundreds of ids in 49 frames)."""
    labels = labels_of(preset)
    per_frame = np.mean([len(np.unique(f)) for f in labels])
    assert 10 <= per_frame < 100, per_frame
    assert labels.max() < 256  # a PNG of ids stays 8-bit


def test_the_gain_follows_the_vit_and_the_size_and_a_given_one_wins():
    live, paper = random_qk_gain("vit_small_16", (160, 240)), random_qk_gain("vit_small_8", (320, 480))
    assert live != paper and ModelSettings().qk_gain is None
    assert random_qk_gain("vit_base_16", (160, 240)) == live  # a patch size's table, whatever the width
    flat = labels_of("live", qk_gain=1.0)  # the plain init: one object
    assert len(np.unique(flat)) == 1
