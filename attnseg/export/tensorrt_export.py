"""TensorRT: a serialized plan (a TensorRT engine) built from the ONNX export, and its runner.

UNVERIFIED: TensorRT cannot be installed on any machine of this project, so
the build and run code below has never executed. What runs and is tested
here: `parser_problems`, the check that the ONNX graph uses only ops and
input forms the ONNX-TensorRT parser of TensorRT 10 accepts at our opset.

The build:
- fp16 or bf16 with LayerNorm pinned to fp32 (a ViT's LayerNorm overflows in
  fp16); the pin is obeyed, not a hint (OBEY_PRECISION_CONSTRAINTS);
- one optimization profile over the batch: 1 .. max_batch, tuned at `opt_batch`;
- a timing cache kept across builds in the attnseg cache directory;
- an engine cache keyed by (ONNX sha256, GPU name, TensorRT version,
  precision, batch range): a second export of the same graph on the same
  machine copies the cached plan instead of rebuilding.
A plan runs only on the GPU model and TensorRT version it was built with; the
runner checks both from the metadata before deserializing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from pathlib import Path

import torch

from ..errors import DeviceError, ExportError
from ..files import publish, write_atomic
from ..model.weights import cache_dir
from ..optional import importable
from .metadata import ArtifactMeta
from .onnx_export import INPUT, OPSET, OUTPUTS, export_onnx
from .static import StaticFrontEnd

# ONNX ops the ONNX-TensorRT parser of TensorRT 10 (opset 9..20) converts, as far as an exported ViT
# front-end can produce them (onnx/onnx-tensorrt docs/operators.md).
PARSER_OPS = frozenset("""
Add Sub Mul Div Pow Sqrt Erf Exp Log Neg Abs Tanh Relu Sigmoid Max Min Sum Mean
MatMul Gemm Conv Softmax LayerNormalization ReduceMean ReduceSum ReduceMax
Reshape Transpose Slice Squeeze Unsqueeze Concat Split Gather Shape Expand Flatten Tile
Cast Constant ConstantOfShape Identity Where Equal Less Greater Not And Or Range
""".split())
PARSER_OPSETS = range(9, 21)
# Inputs the parser needs as initializers (or Constant outputs): op -> input positions.
CONSTANT_INPUTS = {"Conv": (1,), "Slice": (3,), "Squeeze": (1,), "Unsqueeze": (1,)}


def parser_problems(model) -> list[str]:
    """Why the ONNX-TensorRT parser would refuse `model` (an onnx ModelProto); empty when it would not."""
    problems = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in PARSER_OPSETS:
        problems.append(f"opset {opset} is outside TensorRT 10's {PARSER_OPSETS.start}..{PARSER_OPSETS.stop - 1}")
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{node.name}: custom-domain op {node.domain}::{node.op_type}")
        elif node.op_type not in PARSER_OPS:
            problems.append(f"{node.name}: op {node.op_type}")
        for pos in CONSTANT_INPUTS.get(node.op_type, ()):
            if pos < len(node.input) and node.input[pos] and node.input[pos] not in constants:
                problems.append(f"{node.name}: {node.op_type} input {pos} must be a constant")
    return problems


def available() -> str | None:
    """None when a TensorRT engine can be built and run here, else why not."""
    if not importable("tensorrt"):  # not an attnseg extra: NVIDIA's wheel, for NVIDIA GPUs
        return "TensorRT is not installed (pip install tensorrt; it needs an NVIDIA GPU and driver)"
    if not torch.cuda.is_available():
        return "TensorRT needs a CUDA device, and none is available"
    return None


def export_tensorrt(module: StaticFrontEnd, meta: ArtifactMeta, dest: Path, opt_batch: int = 8) -> ArtifactMeta:
    """Build (or take from the engine cache) the plan for `module`; write it atomically to dest."""
    import onnx
    import tensorrt as trt

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        onnx_path = Path(tmp) / "frontend.onnx"
        export_onnx(StaticFrontEnd(module.frontend, module.resolution), meta, onnx_path)  # fp32 graph
        problems = parser_problems(onnx.load(str(onnx_path), load_external_data=False))
        if problems:
            raise ExportError("the ONNX graph has parts TensorRT cannot parse: " + "; ".join(problems[:5]))
        gpu = torch.cuda.get_device_name()
        key = hashlib.sha256()
        for part in (onnx_path, onnx_path.with_name(onnx_path.name + ".data")):
            key.update(part.read_bytes())
        key.update(f"{gpu}|{trt.__version__}|{meta.precision}|1-{opt_batch}-{meta.max_batch}".encode())
        cached = _cache() / f"{key.hexdigest()[:32]}.plan"
        if not cached.is_file():
            plan = _build(trt, onnx_path, meta, opt_batch)
            write_atomic(cached, plan)
        shutil.copyfile(cached, Path(tmp) / dest.name)
        publish(Path(tmp) / dest.name, dest)
    extra = {**meta.extra, "tensorrt_version": trt.__version__, "gpu": gpu, "opset": OPSET, "opt_batch": opt_batch}
    return dataclasses.replace(meta, extra=extra)


def _build(trt, onnx_path: Path, meta: ArtifactMeta, opt_batch: int) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse the ONNX export: {errors}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16 if meta.precision == "fp16" else trt.BuilderFlag.BF16)
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    for i in range(network.num_layers):  # LayerNorm in fp32: fp16 overflows on a ViT's activations
        layer = network.get_layer(i)
        if layer.type == trt.LayerType.NORMALIZATION:
            layer.precision = trt.float32
            layer.set_output_type(0, trt.float32)
    profile = builder.create_optimization_profile()
    h, w = meta.resolution
    profile.set_shape(INPUT, (1, 3, h, w), (min(opt_batch, meta.max_batch), 3, h, w), (meta.max_batch, 3, h, w))
    config.add_optimization_profile(profile)
    timing_path = _cache() / "timing.cache"
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError("TensorRT failed to build an engine from the ONNX export (see its log above)")
    write_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(plan)


class TrtRunner:
    """images -> (q, k) through a deserialized TensorRT engine, on the current CUDA stream."""

    def __init__(self, path: Path, meta: ArtifactMeta, device: torch.device):
        import tensorrt as trt

        if device.type != "cuda":
            raise DeviceError("the tensorrt backend runs on CUDA only")
        here = {"gpu": torch.cuda.get_device_name(device), "tensorrt_version": trt.__version__}
        built = {k: meta.extra.get(k) for k in here}
        if built != here:
            raise DeviceError(f"{path} was built for {built}, this machine has {here}; rebuild it on this "
                             f"machine")
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ExportError(f"{path}: TensorRT could not deserialize the engine")
        self.context = self.engine.create_execution_context()
        self.device = device

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, torch.float32).contiguous()
        self.context.set_input_shape(INPUT, tuple(images.shape))
        self.context.set_tensor_address(INPUT, images.data_ptr())
        outs = []
        for name in OUTPUTS:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=torch.float32, device=self.device)
            self.context.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise ExportError("TensorRT execution failed")
        return outs[0], outs[1]


def load_tensorrt(path: Path, meta: ArtifactMeta, device: torch.device, threads: int | None = None) -> TrtRunner:
    return TrtRunner(path, meta, device)


def _cache() -> Path:
    path = cache_dir() / "tensorrt"
    path.mkdir(parents=True, exist_ok=True)
    return path

