"""Checks of the arguments shared by the public functions."""

import numbers

import numpy as np


def check_signal(value, name="signal"):
    """Raise ``TypeError`` unless ``value`` is a HyperSpy signal (eager or lazy)."""
    from hyperspy.signal import BaseSignal

    if not isinstance(value, BaseSignal):
        hint = ""
        if isinstance(value, tuple) and any(isinstance(v, BaseSignal) for v in value):
            hint = " (a tuple holding a signal: unpack it, e.g. `s, truth = ...`)"
        raise TypeError(
            f"`{name}` must be a HyperSpy signal, got {type(value).__name__}{hint}."
        )


def check_int(value, name, low, high=None):
    """Raise unless ``value`` is an integer in ``[low, high]`` (None: unbounded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"`{name}` must be an integer {allowed}, got {value!r}.")


def check_real(value, name, low, high=None):
    """Raise unless ``value`` is a finite real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"`{name}` must be a number {allowed}, got {value!r}.")


def check_results_fit(signal, loadings=None, factors=None):
    """Raise ``ValueError`` if the decomposition results are not those of
    ``signal`` as it is now (e.g. after ``crop``, which does not crop them).

    ``loadings`` (one row per probe position) and ``factors`` (one row per
    pixel) are arrays (NumPy or dask; only their shape is read); None skips
    one.
    """
    am = signal.axes_manager
    sizes = [
        ("loadings", "probe positions", loadings, am.navigation_size),
        ("factors", "pixels", factors, am.signal_size),
    ]
    for name, what, values, size in sizes:
        if values is not None and values.shape[0] != size:
            raise ValueError(
                f"The decomposition's {name} cover {values.shape[0]} {what}, the "
                f"signal has {size}: the results belong to another shape of the "
                "data (cropped or rebinned since?); run the decomposition again."
            )
