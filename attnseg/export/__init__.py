"""Export of the DINO + ST front-end to compiled artifacts the engine can run.

- exporter.py: the one entry point `export(...)`, the FORMATS table, `load(...)`.
- static.py: the front-end at one resolution (positional embedding baked), as exported.
- metadata.py: what an artifact was built for; a run refuses an artifact built for another.
- onnx_export.py (onnx -> onnxruntime), tensorrt_export.py (tensorrt, UNVERIFIED: never
  installable here), aoti_export.py (AOTInductor .pt2): one thin module per format.
- triton_repo.py: `--format triton-repo`, a Triton Inference Server model repository around the ONNX
  artifact (front-end with dynamic batching, per-camera state under the sequence batcher).
"""
from .exporter import FORMATS, ExportResult, Format, export, format_of, load, read_meta, require
from .metadata import ArtifactMeta, identity_of, weights_digest

__all__ = ["FORMATS", "ArtifactMeta", "ExportResult", "Format", "export", "format_of", "identity_of", "load",
           "read_meta", "require", "weights_digest"]
