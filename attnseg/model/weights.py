"""Where pretrained DINO weights come from: a cache directory, filled by download.

The official DINO release URLs are used when no path is given. The cache is
$ATTNSEG_CACHE, else $XDG_CACHE_HOME/attnseg, else ~/.cache/attnseg. Offline,
the error says exactly where to put the file.
"""
from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import SettingError, WeightsUnavailableError
from ..files import atomic_path

log = logging.getLogger(__name__)

_DINO_BASE = "https://dl.fbaipublicfiles.com/dino"
DINO_URLS = {
    "vit_small_8": f"{_DINO_BASE}/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth",
    "vit_small_16": f"{_DINO_BASE}/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth",
    "vit_base_8": f"{_DINO_BASE}/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth",
    "vit_base_16": f"{_DINO_BASE}/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
}


# what else a run can be given, for the errors of a missing download (the CLI adds its flags)
OTHER_WEIGHTS = ("give weights: the paper's checkpoint (backbone + ST block), a DINO backbone, or random weights "
                 "(meaningless masks that show the pipeline working)")

def cache_dir() -> Path:
    if os.environ.get("ATTNSEG_CACHE"):
        return Path(os.environ["ATTNSEG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnseg"


def cached_dino_path(arch: str) -> Path:
    if arch not in DINO_URLS:
        raise SettingError(f"no official DINO weights for {arch!r}; valid: {', '.join(DINO_URLS)}")
    return cache_dir() / DINO_URLS[arch].rsplit("/", 1)[1]


def dino_weights(arch: str, *, download: bool = True, timeout: float = 30.0) -> Path:
    """Path of the official DINO weights for `arch`, downloading them into the cache if needed."""
    path = cached_dino_path(arch)
    if path.is_file():
        return path
    url = DINO_URLS[arch]
    if not download or os.environ.get("ATTNSEG_OFFLINE") == "1":
        raise WeightsUnavailableError(f"DINO weights for {arch} are not cached; put {url} at {path}, or "
                                      f"{OTHER_WEIGHTS}")
    log.info("downloading %s -> %s", url, path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)  # atomic: a half download never looks like weights
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise WeightsUnavailableError(
            f"could not download DINO weights for {arch} ({getattr(e, 'reason', e)}); "
            f"download {url} yourself and put it at {path} (or set ATTNSEG_CACHE), "
            f"or {OTHER_WEIGHTS}"
        ) from None
    return path
