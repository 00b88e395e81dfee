"""The engine: sources, preprocessing, backends, the offline and streaming pipelines, tracking, outputs.

Offline (the paper): frames.py (a clip's frames) -> segmenter.py; many videos, resumable: batch.py.
Live: sources.py (cameras, files, URLs, PushSource for a host's callback) -> streaming.py (threads, queues, drop policy) ->
online.py (windows against a rolling key-frame memory) -> tracking.py (ids).
"""
from .frames import Clip, InputError, read_clip
from .online import StreamConfig
from .outputs import save_labels, write_label_pngs, write_overlay_video
from .segmenter import RANDOM_BANNER, SegmentationResult, SegmentConfig, Segmenter, segment_video
from .streaming import StreamEngine, StreamError, StreamResult, stream

__all__ = [
    "save_labels", "write_label_pngs", "write_overlay_video",
    "RANDOM_BANNER", "SegmentationResult", "SegmentConfig", "Segmenter", "segment_video",
    "Clip", "InputError", "read_clip",
    "StreamConfig", "StreamEngine", "StreamError", "StreamResult", "stream",
]
