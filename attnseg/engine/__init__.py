"""The engine: a clip or a stream of frames to tracked label maps, and where they go. Four rooms:

    (here)     what both paths share: the Segmenter (segmenter.py: the front-end with its backend, backends.py,
               encode.py, preprocess.py, timed by timing.py; the clustering with its kernels), frames.py (decoding
               files and folders), masks.py (patch labels to the frame's size), tracking.py (ids across windows
               and chunks), synthetic.py (generated clips), and session.py: one session, every face
    offline/   the paper's pipeline on a file, any length: planning.py cuts chunks, pipeline.py segments them and
               links their ids (segment_video, iter_video, iter_chunks), runs.py writes a run into files,
               resumable (run_state.py), batch.py many videos
    live/      the streaming runtime: sources.py (cameras, files, URLs, PushSource; several share the front-end),
               runtime.py (threads and bounded queues: queues.py), stream_segmenter.py (each frame with its
               predecessors against a rolling key-frame memory), carry.py (the last labels moved by optical
               flow to frames skipped), results.py (StreamResult), stats.py (the figures and their one line)
    outputs/   the one fan-out, offline and live (fanout.py): label PNGs, .npy and the overlay video
               (writers.py), COCO RLE (coco.py), the one overlay drawer (drawing.py); rosbag2, ZeroMQ and the live
               page plug in as sinks

A frame's path offline: file -> frames.py decode -> Segmenter.encode (preprocess, front-end: q, k) -> the
clustering of its chunk (pipeline.py) -> ids linked across chunks (tracking.py) -> mask at the frame's size
(masks.py) -> outputs (runs.py into fanout.py). Live: source (sources.py, a capture thread) -> runtime.py's
front-end thread (Segmenter.encode on the frames waiting) -> its window thread (stream_segmenter.py: the window
against key frames, tracked ids) -> StreamResult -> the session's loop (session.py) -> outputs.
"""
from ..settings import SegmentSettings, StreamSettings
from .frames import Clip, InputError, read_clip
from .offline.pipeline import SegmentationResult
from .outputs.fanout import Outputs, save_labels, write_label_pngs, write_overlay_video
from .segmenter import RANDOM_BANNER, Segmenter, segment_video
from .live.runtime import StreamError, StreamResult, StreamRuntime, stream

__all__ = [
    "Outputs", "save_labels", "write_label_pngs", "write_overlay_video",
    "RANDOM_BANNER", "SegmentationResult", "SegmentSettings", "Segmenter", "segment_video",
    "Clip", "InputError", "read_clip",
    "StreamSettings", "StreamError", "StreamResult", "StreamRuntime", "stream",
]
