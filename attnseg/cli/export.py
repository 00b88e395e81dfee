"""`attnseg export`: the front-end as an ONNX, TensorRT or AOTInductor artifact, or a Triton model repository."""
from __future__ import annotations

from ..engine.segmenter import load_frontend
from ..errors import OutputError
from ..export import FORMATS, require
from ..files import replaceable
from ..settings import (ExportSettings, ModelSettings, SegmentSettings, SessionSettings, StreamSettings,
                        TritonRepoSettings)
from .options import add_model, add_settings, read_settings


def add(sub) -> None:
    p = sub.add_parser("export", help="export the front-end as an ONNX, TensorRT or AOTInductor artifact, "
                                      "or a Triton Inference Server model repository")
    p.add_argument("--format", required=True, choices=[*FORMATS, "triton-repo"],
                   help="onnx (ONNX Runtime), tensorrt (a TensorRT plan: an NVIDIA GPU), aoti (AOTInductor .pt2), or "
                        "triton-repo (a Triton Inference Server model repository)")
    p.add_argument("--out", required=True, help="artifact path: .onnx (+ .onnx.data), .plan or .pt2; "
                                                "triton-repo: a new folder")
    add_model(p, segment=False, helps={"device": "where the front-end is traced and its artifact checked against "
                                                "the reference"})
    add_settings(p, SegmentSettings, only=("resolution", "normalization", "precision"))
    add_settings(p, ExportSettings)
    repo = p.add_argument_group("triton-repo", "the model repository's streaming model (editable later in "
                                               "attnseg/config.pbtxt)")
    add_settings(repo, TritonRepoSettings)
    add_settings(repo, SegmentSettings, only=("window", "ratio", "tau"))
    add_settings(repo, StreamSettings)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..export import export

    model = read_settings(ModelSettings, args)
    resolution, max_batch = tuple(args.resolution), read_settings(ExportSettings, args).max_batch
    # every value before any loading (the resolution against the ViT's patches, the repository's stream settings)
    session = SessionSettings(model=model, segment=SegmentSettings(resolution=resolution, window=args.window,
                                                                 ratio=args.ratio, tau=args.tau),
                              stream=read_settings(StreamSettings, args))
    require("onnx" if args.format == "triton-repo" else args.format)  # before the weights load
    why = replaceable(args.out) if args.format != "triton-repo" else None  # an artifact replaces a file, nothing else
    if why:
        raise OutputError(f"cannot write {args.out}: {why}; name a file")
    frontend, info = load_frontend(model, resolution)
    if args.format == "triton-repo":
        return _triton_repo(args, frontend, info, max_batch, session)
    result = export(frontend, format=args.format, resolution=resolution, out=args.out,
                    normalization=args.normalization, precision=args.precision, max_batch=max_batch,
                    checkpoint_sha256=info.sha256)
    meta = result.meta
    files = [str(result.path)] + ([f"{result.path}.data"] if args.format == "onnx" else [f"{result.path}.meta.json"])
    print(f"exported {meta.arch} {meta.mode} {meta.resolution[0]}x{meta.resolution[1]} {meta.precision} "
          f"as {args.format} in {result.seconds:.1f}s -> {', '.join(files)}; loaded back: max |q, k - reference| "
          f"{max(result.max_abs_error.values()):.2e} ({result.relative_error:.1e} of scale); "
          f"run it with `attnseg segment CLIP --backend {FORMATS[args.format].backend} --artifact {result.path} "
          f"{' '.join(same_model(model, resolution, args.normalization))} --out masks/`")
    return 0


def same_model(model: ModelSettings, resolution: tuple[int, int], normalization) -> list[str]:
    """The flags that build the front-end this artifact was exported from (a run with other ones is refused)."""
    if model.checkpoint:
        weights = ["--checkpoint", model.checkpoint]
    elif model.dino_weights:
        weights = ["--dino-weights", model.dino_weights]
    elif model.random_weights:
        gain = ["--qk-gain", f"{model.qk_gain:g}"] if model.qk_gain is not None else []  # None: chosen by size
        weights = ["--random-weights", "--seed", str(model.seed), *gain]
    else:
        weights = []  # the official DINO weights from the cache: the default
    return [*weights, "--arch", model.arch, "--resolution", *map(str, resolution), "--normalization",
            str(normalization)]


def _triton_repo(args, frontend, info, max_batch, session: SessionSettings) -> int:
    from ..export.triton_repo import export_triton_repo

    repo_settings = read_settings(TritonRepoSettings, args)
    repo = export_triton_repo(frontend, out=args.out, resolution=session.segment.resolution,
                              normalization=args.normalization, max_batch=max_batch,
                              device=next(frontend.parameters()).device.type, stream=session.stream,
                              segment=session.segment, plan=repo_settings.plan,
                              trt_accelerator=repo_settings.trt_accelerator, max_cameras=repo_settings.max_cameras,
                              checkpoint_sha256=info.sha256)
    print(f"wrote Triton model repository {repo.path}: {', '.join(repo.models)}; every config.pbtxt parsed against "
          f"Triton's model-config schema; the ONNX front-end loaded back: max |q, k - reference| "
          f"{max(repo.onnx.max_abs_error.values()):.2e}. Serve it: tritonserver --model-repository "
          f"{repo.path.resolve()} (attnseg installed in the server's Python; see docs/integrations.md)")
    return 0
