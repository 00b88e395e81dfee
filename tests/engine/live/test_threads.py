"""The clustering thread's torch ops on one thread, the process's other threads keeping theirs."""
import threading

import torch

from attnseg.engine.live.threads import _openmp, one_intra_op_thread


def test_one_thread_for_the_calling_thread_only():
    before = torch.get_num_threads()
    seen = []
    worker = threading.Thread(target=lambda: seen.append((one_intra_op_thread(), torch.get_num_threads())))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == before  # this thread's, unchanged
    if _openmp() is None:
        assert seen == [(False, seen[0][1])]  # nothing to set: nothing changed, and it says so
    else:
        assert seen == [(True, 1)]
