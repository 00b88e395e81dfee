"""ONNX: export the static front-end, and run it with ONNX Runtime.

The graph: input "images" (batch, 3, H, W) float32, outputs "q" and "k"
(batch, heads, h*w, head_dim) float32; batch is the one dynamic axis. Opset
17: the first with a LayerNormalization op (one node that TensorRT maps to its
normalization layer, so it can be pinned to fp32), inside TensorRT 10's
parser range (9..20). Weights always go to external data, `model.onnx.data`
beside `model.onnx`: the two files travel together. The attnseg metadata is
embedded in metadata_props.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import ExportError, MissingDependency
from ..files import publish
from ..optional import missing
from .metadata import META_KEY, ArtifactMeta
from .static import StaticFrontEnd

OPSET = 17
INPUT, OUTPUTS = "images", ("q", "k")


def available() -> str | None:
    """None when ONNX export and ONNX Runtime can run here, else why not."""
    return missing("onnx", "onnxscript", "onnxruntime", extra="export")


THIRD_PARTY_LOGGERS = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def third_party_quiet():
    """The exporters' own warnings and log lines (a PyTorch FutureWarning, onnxscript's version converter) kept out
    of the terminal, unless attnseg's own info lines are shown (`--debug`)."""
    if logging.getLogger("attnseg").isEnabledFor(logging.INFO):
        yield
        return
    loggers = [logging.getLogger(name) for name in THIRD_PARTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def export_onnx(module: StaticFrontEnd, meta: ArtifactMeta, dest: Path, opset: int = OPSET) -> None:
    """Write dest (the graph) and dest.data (the weights), each atomically."""
    import onnx

    batch = torch.export.Dim("batch", min=1, max=meta.max_batch)
    with third_party_quiet():
        program = torch.onnx.export(module, (module.example(2),), None, dynamo=True, opset_version=opset,
                                    input_names=[INPUT], output_names=list(OUTPUTS), verbose=False,
                                    dynamic_shapes=({0: batch},))
    model = program.model_proto
    onnx.helper.set_model_props(model, {META_KEY: meta.to_json()})
    data_name = dest.name + ".data"
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        onnx.save_model(model, str(Path(tmp) / dest.name), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        publish(Path(tmp) / data_name, dest.parent / data_name)  # weights first, then the graph naming them
        publish(Path(tmp) / dest.name, dest)


def read_onnx_meta(path: Path) -> ArtifactMeta:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and friends for a corrupt file
        raise ExportError(f"{path}: not a readable ONNX model ({type(err).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if META_KEY not in props:
        raise ExportError(f"{path}: an ONNX model without attnseg metadata; export it with attnseg.export")
    return ArtifactMeta.from_json(props[META_KEY], str(path))


def cuda_provider() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def check_device(device: torch.device) -> torch.device:
    """Where an export is loaded back and checked: the graph is the same on every device, so without
    onnxruntime's CUDA provider a GPU export is checked on the CPU instead of failing after writing it."""
    if device.type == "cuda" and not cuda_provider():
        logging.getLogger(__name__).info("onnxruntime has no CUDA provider: the export is checked on the CPU")
        return torch.device("cpu")
    return device


class OrtRunner:
    """images -> (q, k) through an ONNX Runtime session (CUDA provider when asked and present)."""

    def __init__(self, path: Path, device: torch.device, threads: int | None = None):
        import onnxruntime as ort

        data = path.with_name(path.name + ".data")
        if not data.is_file():
            raise ExportError(f"{path}: its weights file {data.name} is missing; it must sit beside the model")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if not cuda_provider():
                raise MissingDependency("this onnxruntime has no CUDA provider (install onnxruntime-gpu), "
                                 "or run the onnxruntime backend on the cpu")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own untyped errors for bad models
            raise ExportError(f"{path}: onnxruntime cannot load it ({str(err).splitlines()[0]})") from None
        self.device = device
        self.providers = self.session.get_providers()

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = {INPUT: images.detach().to("cpu", torch.float32).contiguous().numpy()}
        q, k = self.session.run(list(OUTPUTS), feed)
        return torch.from_numpy(q).to(self.device), torch.from_numpy(k).to(self.device)


def load_onnx(path: Path, meta: ArtifactMeta, device: torch.device, threads: int | None = None) -> OrtRunner:
    return OrtRunner(path, device, threads)

