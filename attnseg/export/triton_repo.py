"""A Triton Inference Server model repository: the front-end stateless and batched, the per-camera state sequenced.

    repo/
      attnseg_frontend/      onnxruntime_onnx: images (B, 3, H, W) -> q, k; dynamic batching across cameras
        config.pbtxt, 1/model.onnx, 1/model.onnx.data
      attnseg_frontend_trt/  tensorrt_plan, the same contract (only with a plan built on the target GPU)
        config.pbtxt, 1/model.plan
      attnseg/               python backend + sequence batcher: one camera = one sequence (CORRID)
        config.pbtxt, 1/model.py

Why a sequence batcher, not an ensemble: the streaming algorithm keeps state
per camera between requests (the rolling key-frame memory, the frames waiting
for their window, the tracks). An ensemble is a stateless graph and cannot
hold it; the sequence batcher sends every request of a sequence, in order, to
the same model instance with START/END/CORRID controls, so the python model
keeps one OnlineSegmenter per correlation id. It calls the front-end model
through BLS, where dynamic batching merges the frames of all cameras.

Each request: FRAME (1, H0, W0, 3) uint8 RGB. Each response: LABELS (1, n, H0, W0) int32 track ids and
FRAME_INDEX (1, n) int64 (frame numbers within the sequence) for the n frames whose window this request
completed (n is 0 until a window fills; END flushes the rest).
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError, OutputError
from ..files import write_atomic
from ..model import FrontEnd
from ..optional import require
from ..settings import ExportSettings, SegmentSettings, StreamSettings, TritonRepoSettings
from .exporter import ExportResult, export, read_meta
from .metadata import check_identity, identity_of

SEGMENT, EXPORT, REPO = SegmentSettings(), ExportSettings(), TritonRepoSettings()  # the defaults (attnseg.settings)

FRONTEND, FRONTEND_TRT, SEQUENCE_MODEL = "attnseg_frontend", "attnseg_frontend_trt", "attnseg"
MODEL_PY = "from attnseg.integrations.triton_model import TritonPythonModel  # noqa: F401  (attnseg's python model)\n"


@dataclass(frozen=True)
class RepoResult:
    path: Path
    onnx: ExportResult
    models: list[str]
    configs: dict[str, str]  # model -> config.pbtxt text (validated)


def _tensor(name: str, dtype: str, dims: list[int]) -> str:
    return f'  {{ name: "{name}" data_type: {dtype} dims: [ {", ".join(map(str, dims))} ] }}'


def _params(values: dict) -> str:
    return "\n".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in values.items())


def frontend_config(name: str, platform: str, meta, tokens: int, kind: str, trt_accelerator: bool = False) -> str:
    h, w = meta.resolution
    batches = sorted({b for b in (1, 2, 4, 8, meta.max_batch) if b <= meta.max_batch})
    text = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {meta.max_batch}",
            "input [", _tensor("images", "TYPE_FP32", [3, h, w]), "]",
            "output [", _tensor("q", "TYPE_FP32", [meta.heads, tokens, meta.head_dim]) + ",",
            _tensor("k", "TYPE_FP32", [meta.heads, tokens, meta.head_dim]), "]",
            f"dynamic_batching {{ preferred_batch_size: [ {', '.join(map(str, batches))} ] "
            f"max_queue_delay_microseconds: 2000 }}",
            f"instance_group [ {{ count: 1 kind: {kind} }} ]"]
    if trt_accelerator:  # ONNX Runtime's TensorRT execution provider, inside the onnxruntime backend
        text.append('optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" '
                    'parameters { key: "precision_mode" value: "FP16" } '
                    'parameters { key: "max_workspace_size_bytes" value: "4294967296" } } ] } }')
    return "\n".join(text) + "\n"


def sequence_config(frontend_model: str, meta, grid: tuple[int, int], scale: float, stream: dict, kind: str,
                    max_cameras: int) -> str:
    params = {"frontend_model": frontend_model, "resolution": f"{meta.resolution[0]},{meta.resolution[1]}",
              "grid": f"{grid[0]},{grid[1]}",
              "normalization": meta.normalization, "heads": meta.heads, "head_dim": meta.head_dim,
              "scale": repr(scale), **stream}
    return "\n".join([
        f'name: "{SEQUENCE_MODEL}"', 'backend: "python"', f"max_batch_size: {max_cameras}",
        "input [", _tensor("FRAME", "TYPE_UINT8", [-1, -1, 3]), "]",
        "output [", _tensor("LABELS", "TYPE_INT32", [-1, -1, -1]) + ",", _tensor("FRAME_INDEX", "TYPE_INT64", [-1]),
        "]",
        "sequence_batching {",
        "  max_sequence_idle_microseconds: 60000000",
        "  control_input [",
        '    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },',
        '    { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] },',
        '    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }',
        "  ]",
        f"  oldest {{ max_candidate_sequences: {4 * max_cameras} preferred_batch_size: [ {max_cameras} ] "
        "max_queue_delay_microseconds: 2000 }",
        "}",
        f"instance_group [ {{ count: 1 kind: {kind} }} ]",
        _params(params),
    ]) + "\n"


def export_triton_repo(frontend: FrontEnd, *, out: str | Path, resolution: tuple[int, int],
                       normalization: str = SEGMENT.normalization, max_batch: int = EXPORT.max_batch,
                       device: str = "cpu", stream: StreamSettings = StreamSettings(),
                       segment: SegmentSettings = SegmentSettings(), plan: str | Path | None = None,
                       trt_accelerator: bool = REPO.trt_accelerator, max_cameras: int = REPO.max_cameras,
                       checkpoint_sha256: str | None = None) -> RepoResult:
    """Write the repository at `out` (refused if it exists), with the ONNX front-end exported and checked; its
    streaming model runs `stream` with the window, key-frame ratio and tau of `segment`."""
    out = Path(out)
    if out.exists():
        raise OutputError(f"{out} already exists; a model repository is written into a new folder")
    kind = "KIND_GPU" if device == "cuda" else "KIND_CPU"
    stream = {"window": segment.window, "ratio": segment.ratio, "tau": segment.tau, **dataclasses.asdict(stream)}
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        onnx = export(frontend, format="onnx", resolution=resolution, out=staging / FRONTEND / "1" / "model.onnx",
                      normalization=normalization, max_batch=max_batch, checkpoint_sha256=checkpoint_sha256)
        meta = onnx.meta
        gh, gw = frontend.backbone.grid(*resolution)
        configs = {FRONTEND: frontend_config(FRONTEND, "onnxruntime_onnx", meta, gh * gw, kind, trt_accelerator)}
        frontend_model = FRONTEND
        if plan is not None:
            plan_meta = read_meta(plan)
            check_identity(plan_meta, identity_of(frontend, resolution, normalization), Path(plan))
            (staging / FRONTEND_TRT / "1").mkdir(parents=True)
            shutil.copyfile(plan, staging / FRONTEND_TRT / "1" / "model.plan")
            configs[FRONTEND_TRT] = frontend_config(FRONTEND_TRT, "tensorrt_plan", plan_meta, gh * gw, "KIND_GPU")
            frontend_model = FRONTEND_TRT
        configs[SEQUENCE_MODEL] = sequence_config(frontend_model, meta, (gh, gw), frontend.scale, stream, kind,
                                                  max_cameras)
        write_atomic(staging / SEQUENCE_MODEL / "1" / "model.py", MODEL_PY)
        for model, text in configs.items():
            write_atomic(staging / model / "config.pbtxt", text)
        validate_repository(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    onnx = ExportResult(out / FRONTEND / "1" / "model.onnx", onnx.meta, onnx.seconds, onnx.max_abs_error,
                        onnx.relative_error)
    return RepoResult(out, onnx, list(configs), configs)


DEFAULT_FILE = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan", "python": "model.py"}


def validate_repository(repo: str | Path) -> dict:
    """Parse every config.pbtxt against Triton's ModelConfig schema (tritonclient) and check the repository's
    layout: model name = folder, a version folder with the platform's model file, BLS targets that exist.
    Returns {model: ModelConfig}; raises ValueError naming the first problem."""
    require("tritonclient.grpc", extra="serving", what="validate a Triton repository", names="tritonclient")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2
    repo = Path(repo)
    models = {}
    for config_path in sorted(repo.glob("*/config.pbtxt")):
        config = model_config_pb2.ModelConfig()
        try:
            text_format.Parse(config_path.read_text(), config)
        except text_format.ParseError as err:
            raise ExportError(f"{config_path}: not a valid Triton model config: {err}") from None
        folder = config_path.parent.name
        if config.name != folder:
            raise ExportError(f"{config_path}: name {config.name!r} differs from its folder {folder!r}")
        kind = config.platform or config.backend
        model_file = repo / folder / "1" / DEFAULT_FILE.get(kind, "")
        if kind not in DEFAULT_FILE or not model_file.is_file():
            raise ExportError(f"{config_path}: no {DEFAULT_FILE.get(kind, kind)} in {folder}/1")
        if config.HasField("sequence_batching") and config.HasField("dynamic_batching"):
            raise ExportError(f"{config_path}: a model has one scheduler: sequence or dynamic batching")
        preferred = list(config.dynamic_batching.preferred_batch_size) + \
            list(config.sequence_batching.oldest.preferred_batch_size)
        if any(b > config.max_batch_size for b in preferred):
            raise ExportError(f"{config_path}: preferred batch sizes {preferred} exceed max_batch_size "
                             f"{config.max_batch_size}")
        if kind == "onnxruntime_onnx":
            _match_onnx(config, model_file)
        models[folder] = config
    if not models:
        raise ExportError(f"{repo} holds no model (no */config.pbtxt)")
    for name, config in models.items():
        target = config.parameters["frontend_model"].string_value if "frontend_model" in config.parameters else None
        if target is not None and target not in models:
            raise ExportError(f"{name} calls front-end model {target!r}, which is not in {repo}")
    return models


def _match_onnx(config, path: Path) -> None:
    """The config's inputs and outputs are the graph's: names, element types, dims after the batch axis."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    types = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.INT32: "TYPE_INT32"}

    def dims(value) -> tuple[str, list[int]]:
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        return types.get(value.type.tensor_type.elem_type, "?"), shape[1:]

    from tritonclient.grpc import model_config_pb2
    name_of = model_config_pb2.DataType.Name
    for declared, actual in ((config.input, graph.input), (config.output, graph.output)):
        got = {t.name: (name_of(t.data_type), list(t.dims)) for t in declared}
        want = {v.name: dims(v) for v in actual}
        if got != want:
            raise ExportError(f"{path.parent.parent.name}/config.pbtxt declares {got}, the ONNX graph has {want}")
