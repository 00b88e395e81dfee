"""The python-backend model of the Triton repository (`attnseg export --format triton-repo`): per-camera state.

Triton's sequence batcher gives each camera's requests, in order and to one
model instance, with START / END / CORRID controls; this model keeps one
StreamSegmenter (key-frame memory, waiting frames, tracks) per correlation id.
The front-end runs in its own Triton model, called through BLS with the
frames of every request in the batch at once, so cameras share its batches:
the engine's one front-end step (attnseg.engine.encode) with BLS as its backend.
`triton_python_backend_utils` exists only inside Triton; it is imported when
the server initializes the model. The tests drive this class with a stand-in
for that module and the repository's own ONNX front-end.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from ..engine.encode import encode_batches
from ..engine.masks import label_maps
from ..engine.live.stream_segmenter import StreamSegmenter
from ..errors import InputError
from ..kernels import cluster_ops
from ..settings import StreamSettings


class _Sequence:
    def __init__(self, online: StreamSegmenter):
        self.online = online
        self.pending: list[tuple[int, tuple[int, int]]] = []  # (frame index, frame size) awaiting a window
        self.frames = 0


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        self.frontend_model = params["frontend_model"]
        self.resolution = tuple(int(x) for x in params["resolution"].split(","))
        self.grid = tuple(int(x) for x in params["grid"].split(","))  # patches per column, per row
        self.normalization, self.scale = params["normalization"], float(params["scale"])
        self.stream = StreamSettings(**{f.name: type(getattr(StreamSettings(), f.name))(params[f.name])
                                      for f in dataclasses.fields(StreamSettings) if f.name in params})
        self.clip = {"window": int(params["window"]), "ratio": int(params["ratio"]), "tau": float(params["tau"])}
        gpu = args.get("model_instance_kind") == "GPU"
        self.device = torch.device(f"cuda:{args.get('model_instance_device_id', 0)}" if gpu else "cpu")
        self.ops = cluster_ops("auto", self.device)
        self.sequences: dict[int, _Sequence] = {}

    def execute(self, requests: list) -> list:
        pb = self.pb
        inputs = [self._controls(r) for r in requests]
        frames = [x["frame"] for x in inputs]
        q, k = self._frontend(frames)
        responses = []
        for i, x in enumerate(inputs):
            try:
                labels, index = self._step(x, q[i], k[i])
            except ValueError as err:
                responses.append(pb.InferenceResponse(output_tensors=[], error=pb.TritonError(str(err))))
                continue
            responses.append(pb.InferenceResponse(output_tensors=[pb.Tensor("LABELS", labels[None]),
                                                                  pb.Tensor("FRAME_INDEX", index[None])]))
        return responses

    def _controls(self, request) -> dict:
        get = self.pb.get_input_tensor_by_name
        frame = get(request, "FRAME").as_numpy()
        return {"frame": frame[0], "start": bool(get(request, "START").as_numpy().reshape(-1)[0]),
                "end": bool(get(request, "END").as_numpy().reshape(-1)[0]),
                "corrid": int(get(request, "CORRID").as_numpy().reshape(-1)[0])}

    def _frontend(self, frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """q, k of every frame of the batch, in one batch: one BLS request to the front-end model."""
        ((q, k),) = encode_batches(frames, self._bls, resolution=self.resolution, normalization=self.normalization,
                                   device=torch.device("cpu"), batch_size=len(frames))
        return q.to(self.device), k.to(self.device)

    def _bls(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The front-end model, called through BLS: normalized images in, q and k out."""
        request = self.pb.InferenceRequest(model_name=self.frontend_model, requested_output_names=["q", "k"],
                                           inputs=[self.pb.Tensor("images", images.numpy())])
        response = request.exec()
        if response.has_error():
            raise self.pb.TritonModelException(f"front-end model {self.frontend_model}: "
                                               f"{response.error().message()}")
        q, k = (torch.from_dlpack(self.pb.get_output_tensor_by_name(response, name).to_dlpack()) for name in ("q", "k"))
        return q, k

    @torch.inference_mode()
    def _step(self, x: dict, q: torch.Tensor, k: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """One frame of one camera; the label maps and frame indices of the frames it completes."""
        corrid = x["corrid"]
        if x["start"]:
            self.sequences[corrid] = _Sequence(StreamSegmenter(self.scale, self.stream, self.ops, **self.clip))
        seq = self.sequences.get(corrid)
        if seq is None:
            raise InputError(f"sequence {corrid} has no state: its first request must carry START")
        seq.pending.append((seq.frames, x["frame"].shape[:2]))
        seq.frames += 1
        maps = seq.online.push(q, k)
        if x["end"]:
            maps += seq.online.flush()
            del self.sequences[corrid]
        done, seq.pending = seq.pending[:len(maps)], seq.pending[len(maps):]
        h0, w0 = x["frame"].shape[:2]
        labels = np.zeros((len(maps), h0, w0), np.int32)
        for j, ((_, size), ids) in enumerate(zip(done, maps)):
            if size != (h0, w0):
                raise InputError(f"sequence {corrid}: frame size changed from {size} to {(h0, w0)}")
            labels[j] = label_maps(ids, self.grid, size)[1]
        return labels, np.array([i for i, _ in done], np.int64)

    def finalize(self) -> None:
        self.sequences.clear()
