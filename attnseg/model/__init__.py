"""The plain, readable reference: DINO ViT, ST block, checkpoints, affinity, clustering.

Nothing here imports from the other rooms (kernels, export, engine); they import from here. Its defaults and
architecture presets are read from the ground floor (attnseg.settings: PAPER, VIT_PRESETS, STConfig), and
re-exported here for callers of the model alone.
"""
from ..settings import VIT_PRESETS, STConfig, ViTConfig, vit_config
from .affinity import Affinity, affinity, key_frame_indices, query_windows
from .build import WeightsInfo, build_frontend, random_frontend
from .checkpoints import CheckpointError, Weights, read_checkpoint
from .clustering import ClusterResult, cluster_video, kl_distance
from .frontend import FrontEnd
from .st_block import STBlock
from .vit import DinoViT, interpolate_pos_embed
from .weights import DINO_URLS, WeightsUnavailableError

__all__ = [
    "Affinity", "affinity", "key_frame_indices", "query_windows",
    "WeightsInfo", "build_frontend", "random_frontend",
    "CheckpointError", "Weights", "read_checkpoint",
    "ClusterResult", "cluster_video", "kl_distance",
    "VIT_PRESETS", "STConfig", "ViTConfig", "vit_config",
    "FrontEnd", "STBlock", "DinoViT", "interpolate_pos_embed",
    "DINO_URLS", "WeightsUnavailableError",
]
