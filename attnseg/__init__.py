"""attnseg: real-time video object segmentation from spatio-temporal attention.

Implements "Betrayed by Attention" (ECCV 2024): a frozen DINO ViT, one
spatio-temporal block, and symmetric-KL clustering of its attention maps.
"""
from ._version import __version__
from .engine import (SegmentationResult, SegmentSettings, Segmenter, StreamSettings,  # noqa: E402
                     StreamRuntime, segment_video, stream)

__all__ = ["SegmentationResult", "SegmentSettings", "Segmenter", "StreamSettings", "StreamRuntime",
           "segment_video", "stream", "__version__"]
