"""Annotate a video with supervision's own annotators, from attnseg's masks and persistent ids.

    pip install 'attnseg[sv]'
    python examples/supervision_annotate.py clip.mp4 annotated.mp4 --checkpoint checkpoint_dino-s-8.pth
    python examples/supervision_annotate.py clip.mp4 annotated.mp4 --random-weights --arch vit_small_16 --resolution 160 240

Each object is a detection whose tracker_id is its attnseg id: the mask and box annotators colour it by id
(ColorLookup.TRACK), so an object keeps its colour through the video, and the label names its id and area.
Frames stream through in bounded memory, as `attnseg segment` reads them.
"""
from __future__ import annotations

import argparse

import numpy as np
import supervision as sv

from attnseg import SegmentSettings, Segmenter
from attnseg.architectures import VIT_PRESETS
from attnseg.settings import ModelSettings
from attnseg.engine.frames import FrameReader
from attnseg.integrations.supervision import to_detections


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", help="video file or folder of frames")
    p.add_argument("out", help="annotated video (.mp4)")
    p.add_argument("--checkpoint")
    p.add_argument("--random-weights", action="store_true")
    p.add_argument("--arch", default=ModelSettings().arch, choices=sorted(VIT_PRESETS),
                   help="the ViT of the checkpoint (default: %(default)s)")
    p.add_argument("--resolution", type=int, nargs=2, default=(320, 480))
    p.add_argument("--min-area", type=int, default=64, help="leave out objects smaller than this, in pixels")
    args = p.parse_args()

    seg = Segmenter.from_checkpoint(args.checkpoint, random_weights=args.random_weights, arch=args.arch,
                                    config=SegmentSettings(resolution=tuple(args.resolution)))
    reader = FrameReader(args.video)
    masks = sv.MaskAnnotator(color_lookup=sv.ColorLookup.TRACK, opacity=0.5)
    boxes = sv.BoxAnnotator(color_lookup=sv.ColorLookup.TRACK, thickness=1)
    labels = sv.LabelAnnotator(color_lookup=sv.ColorLookup.TRACK, text_scale=0.4)
    first = next(reader.frames())[1]
    info = sv.VideoInfo(width=first.shape[1], height=first.shape[0], fps=reader.info.fps or 24)
    with sv.VideoSink(args.out, info) as sink:
        for (_, rgb), frame in zip(reader.frames(), seg.iter_video(args.video)):
            detections = to_detections(frame, min_area=args.min_area)
            scene = np.ascontiguousarray(rgb[..., ::-1])  # supervision draws on BGR images, as OpenCV does
            scene = masks.annotate(scene, detections)
            scene = boxes.annotate(scene, detections)
            text = [f"#{t} {a}px" for t, a in zip(detections.tracker_id, detections.data["area"])]
            sink.write_frame(labels.annotate(scene, detections, labels=text))
    print(f"annotated {args.video} -> {args.out}")


if __name__ == "__main__":
    main()
