"""The engine: a clip or a stream of frames to tracked label maps, and where they go.

    Segmenter (segmenter.py)   the front-end with its backend and the clustering with its kernels; one method per
                               step every path calls: encode (encode.py: preprocess.py + backends.py, timed by
                               timing.py), cluster (attnseg.model with attnseg.kernels), stream_segmenter
    offline (offline.py)       the paper's pipeline, one path for any length: frames.py decodes, planning.py cuts
                               chunks, the Segmenter's steps, tracking.py links ids; segment_video, iter_video
                               and iter_chunks are its faces; runs.py writes a run into files, resumable
                               (segment_to_files: `attnseg segment`), batch.py many videos (`attnseg batch`)
    stream (streaming.py)      the streaming runtime: sources.py (cameras, files, URLs, PushSource; one or several
                               sharing the front-end) -> threads and bounded queues -> stream_segmenter.py (each
                               frame with its predecessors against a rolling key-frame memory, tracking.py ids,
                               per source); carry.py moves the last labels by optical flow to the frames skipped
                               -> StreamResult (segmented or carried)
    outputs (outputs.py)       the one fan-out, offline and live: label PNGs, .npy, overlay video (drawing.py),
                               COCO RLE (coco.py), rosbag2, ZeroMQ, the live page (attnseg.view); masks.py
                               upsamples patch labels

A frame's path: source or file -> decode -> preprocess -> front-end (q, k) -> affinity and clustering of its
window against key frames -> ids (linked or tracked) -> mask at the frame's size -> outputs.
"""
from ..settings import SegmentConfig, StreamConfig
from .frames import Clip, InputError, read_clip
from .offline import SegmentationResult
from .outputs import Outputs, save_labels, write_label_pngs, write_overlay_video
from .segmenter import RANDOM_BANNER, Segmenter, segment_video
from .streaming import StreamError, StreamResult, StreamRuntime, stream

__all__ = [
    "Outputs", "save_labels", "write_label_pngs", "write_overlay_video",
    "RANDOM_BANNER", "SegmentationResult", "SegmentConfig", "Segmenter", "segment_video",
    "Clip", "InputError", "read_clip",
    "StreamConfig", "StreamError", "StreamResult", "StreamRuntime", "stream",
]
