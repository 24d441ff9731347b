"""BLAS threading control.

Many small BLAS calls (the HALS iterations on the sketch, the NNLS solves,
work inside dask tasks) run much faster on one BLAS thread: multi-threaded
OpenBLAS synchronises its threads on every call, and when the cores are busy
with other work a call can wait for a descheduled thread (measured on 2 busy
cores: 29-205 ms per HALS iteration with 2 BLAS threads, 6.5 ms with one).
The large products with the data keep all BLAS threads.
"""

_CONTROLLER = None


def single_blas_thread():
    """Context manager limiting BLAS to one thread (threadpoolctl)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
