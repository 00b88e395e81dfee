"""The engine: sources, preprocessing, the offline pipeline, outputs.

Backends, streaming and tracking join here as they arrive.
"""
from .outputs import save_labels, write_label_pngs, write_overlay_video
from .segmenter import RANDOM_BANNER, SegmentationResult, SegmentConfig, Segmenter, segment_video
from .sources import Clip, InputError, read_clip

__all__ = [
    "save_labels", "write_label_pngs", "write_overlay_video",
    "RANDOM_BANNER", "SegmentationResult", "SegmentConfig", "Segmenter", "segment_video",
    "Clip", "InputError", "read_clip",
]
