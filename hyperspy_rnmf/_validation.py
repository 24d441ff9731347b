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


#: Why a signal mask may arrive transposed (see the user guide on masks).
PYXEM_MASK_NOTE = (
    " (pyxem 0.21's get_direct_beam_mask returns such a mask for non-square "
    "patterns, with its disc off the pattern's centre: build the disc on the "
    "pattern's shape instead, see the user guide on masks)"
)


def transpose_hint(received, expected, fix, pattern=False):
    """``": it is the transpose ...; pass <fix>"`` when the shape ``received``
    is the transpose of ``expected`` (2D, not square), else ``""``.
    ``pattern``: a mask of the diffraction patterns (adds the pyxem note)."""
    received, expected = tuple(received), tuple(expected)
    if len(expected) != 2 or received == expected or received != expected[::-1]:
        return ""
    note = PYXEM_MASK_NOTE if pattern else ""
    return (
        f": it is the transpose of the expected shape; if only the axes are "
        f"swapped, pass {fix}{note}"
    )


def check_pattern_mask(mask, name, shape, meaning):
    """A boolean mask of one pattern, in the order of the data array
    (``s.data.shape[-2:]``), from an array or a signal (its data).

    Raises ``ValueError`` naming the shape received and the shape expected
    (and saying so when one is the transpose of the other), or the dtype;
    ``meaning`` says what True means, e.g. ``"True = excluded"``.
    """
    from hyperspy.signal import BaseSignal

    is_signal = isinstance(mask, BaseSignal)
    data = mask.data if is_signal else mask
    array = np.asarray(data.compute() if hasattr(data, "compute") else data)
    shape = tuple(shape)
    if array.shape != shape:
        what = "data of shape" if is_signal else "shape"
        fix = f"`{name}.data.T`" if is_signal else f"`{name}.T`"
        raise ValueError(
            f"`{name}` has {what} {array.shape}; it must have the shape of one "
            f"pattern in the data array, {shape} (ky, kx order, "
            f"s.data.shape[-2:]){transpose_hint(array.shape, shape, fix, True)}."
        )
    if array.dtype != bool:
        raise ValueError(
            f"`{name}` must be boolean ({meaning}), got dtype {array.dtype}."
        )
    return array
