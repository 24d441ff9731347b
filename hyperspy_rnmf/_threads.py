"""BLAS threading control.

Many small BLAS calls (the HALS iterations on the sketch, the NNLS solves,
work inside dask tasks) run much faster on one BLAS thread: multi-threaded
OpenBLAS synchronises its threads on every call, and when the cores are busy
with other work a call can wait for a descheduled thread (measured on 2 busy
cores: 29-205 ms per HALS iteration with 2 BLAS threads, 6.5 ms with one).
The large products with the data keep all BLAS threads.

The BLAS thread count is a setting of the whole process, and dask runs
several tasks, each inside :func:`single_blas_thread`, at the same time. A
``threadpoolctl`` limit per task is not safe there:

* each limit records the count it finds and restores it when it ends, so a
  task that starts while another holds the limit records 1 and may restore
  it last;
* threadpoolctl >= 3.2 lets only one Python thread change OpenBLAS's count
  (the first that did, until it lets go) and silently ignores the others,
  so a restore from another thread does nothing.

Measured with both: after one lazy fit, the user's process stayed on one
BLAS thread for good. So the limit is counted: the first thread to enter
sets it, the last one to leave restores the original, and each change is
made with threadpoolctl's OpenBLAS control released, so that it is obeyed
whichever thread makes it.
"""

import contextlib
import threading

_CONTROLLER = None
_LOCK = threading.Lock()
_DEPTH = 0
_LIMITER = None


def available_cores():
    """Cores this process may run on (the affinity mask where there is one)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _release_openblas_control():
    """Let any thread change OpenBLAS's thread count (threadpoolctl >= 3.2)."""
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextlib.contextmanager
def single_blas_thread():
    """Context manager limiting BLAS to one thread while any thread is inside it.

    Re-entrant and safe to enter from several threads at once: the original
    thread counts are restored when the last one leaves.
    """
    global _DEPTH, _LIMITER
    with _LOCK:
        if _DEPTH == 0:
            _release_openblas_control()
            _LIMITER = _controller().limit(limits=1, user_api="blas")
            _release_openblas_control()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                _release_openblas_control()
                _LIMITER.restore_original_limits()
                _release_openblas_control()
                _LIMITER = None
