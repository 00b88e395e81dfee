"""attnseg: real-time video object segmentation from spatio-temporal attention.

Implements "Betrayed by Attention" (ECCV 2024): a frozen DINO ViT, one
spatio-temporal block, and symmetric-KL clustering of its attention maps.
"""
__version__ = "0.1.0"

from .engine import SegmentationResult, SegmentConfig, Segmenter, segment_video  # noqa: E402

__all__ = ["SegmentationResult", "SegmentConfig", "Segmenter", "segment_video", "__version__"]
