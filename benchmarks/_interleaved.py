"""Timing of several methods with their runs interleaved (shared by the
benchmarks)."""

import time

import numpy as np

#: Seconds of rest before each timed run. OpenBLAS keeps its threads
#: spinning for about 0.1 s after a multi-threaded call
#: (``OPENBLAS_THREAD_TIMEOUT``), and work that starts in that window shares
#: the cores with them: measured on 2 cores, the compiled products of
#: RandomizedNMF took 0.79-1.06 times BLAS's time right after a BLAS call
#: against 0.57-0.73 on idle threads. Without the rest, each function was
#: timed partly on the leftovers of the one before it.
PAUSE = 0.2


def interleaved_times(funcs, repeats=7, pause=PAUSE):
    """Median time of each function, the runs of all of them interleaved.

    One warm-up run each; functions that take more than 5 s keep that single
    run. The others run ``repeats`` times in turn (a, b, c, a, b, c, ...), so
    that a slow phase of the shared machine slows all of them alike and the
    ratios stay meaningful; each timed run starts after ``pause`` seconds of
    rest (not timed), on idle threads. Returns ``{name: (seconds, result or
    exception)}``.
    """
    out, times = {}, {}
    for name, func in funcs.items():
        time.sleep(pause)
        t0 = time.perf_counter()
        try:
            result = func()
        except Exception as exc:  # a method may fail (pyxem: no segment)
            out[name] = (float("nan"), exc)
            continue
        out[name] = (time.perf_counter() - t0, result)
        if out[name][0] <= 5.0:
            times[name] = []
    for _ in range(repeats):
        for name in times:
            time.sleep(pause)
            t0 = time.perf_counter()
            funcs[name]()
            times[name].append(time.perf_counter() - t0)
    for name, values in times.items():
        out[name] = (float(np.median(values)), out[name][1])
    return out
