"""How many of torch's CPU threads a stage of the streaming runtime uses.

torch runs its CPU ops on an OpenMP team; how many threads a parallel op starts is a setting of the thread that
calls it (OpenMP's per-thread nthreads-var), while `torch.set_num_threads` sets it for the whole process.
`one_intra_op_thread()` sets it to one for the calling thread only, through the OpenMP runtime torch loaded:
the clustering thread's ops are small (a window's affinity rows, a few hundred tokens), gain nothing from a second
thread, and on a machine whose other core also serves the page and the browser they wait at every op for a
second thread that was preempted. The front-end keeps every thread. Where torch's OpenMP runtime cannot be
found (another build, another OS), nothing changes.
"""
from __future__ import annotations

import ctypes
import functools
import logging

import torch

log = logging.getLogger(__name__)


@functools.cache
def _openmp() -> ctypes.CDLL | None:
    """torch's OpenMP runtime (libgomp or libiomp/libomp), as this process loaded it, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if line.rstrip().endswith(
                ("libgomp.so.1", "libiomp5.so", "libomp.so"))}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def one_intra_op_thread() -> bool:
    """torch's CPU ops called from this thread run on one thread; the process's other threads keep theirs.
    Whether it could be done."""
    torch.zeros(1).add_(1)  # torch sets this thread's OpenMP threads at its first op: after it, not before
    runtime = _openmp()
    if runtime is None:
        log.debug("no OpenMP runtime of torch's found: the clustering thread keeps torch's threads")
        return False
    runtime.omp_set_num_threads(1)
    return torch.get_num_threads() == 1
