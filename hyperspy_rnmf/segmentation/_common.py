"""Validation, progress bars, one-pass reductions and signal builders shared by
both segmentation routes."""

import contextlib
import numbers
import os

import numpy as np

from hyperspy_rnmf._axes import copy_axes
from hyperspy_rnmf._validation import check_signal


# --------------------------------------------------------------- validation
def check_real(value, name, low=None, high=None, *, low_open=False, high_open=False):
    """A finite real number in [low, high] (or open ends); returns a float."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = (  # an infinite end is never included (finite numbers only)
            ("(" if low_open or low is None else "[")
            + f"{lo}, {hi}"
            + (")" if high_open or high is None else "]")
        )
        raise ValueError(f"`{name}` must be a number in {interval}, got {value!r}.")
    return float(value)


def check_int(value, name, low=0):
    """An integer >= low; returns an int."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (numbers.Integral, np.integer))
        or value < low
    ):
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    return int(value)


def check_correlation(value, name):
    """A correlation threshold in [-1, 1]."""
    return check_real(value, name, -1.0, 1.0)


def show_progress(show_progressbar):
    """Resolve ``show_progressbar=None`` to HyperSpy's preference."""
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        return bool(preferences.General.show_progressbar)
    return bool(show_progressbar)


def progress(iterable, show, **kwargs):
    """An iterable with a tqdm progress bar (HyperSpy's) when ``show``."""
    if not show:
        return iterable
    from hyperspy.external.progressbar import progressbar

    return progressbar(iterable, **kwargs)


@contextlib.contextmanager
def dask_progress(show):
    """dask's ProgressBar around a computation, when ``show``."""
    if show:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            yield
    else:
        yield


def to_python(value):
    """NumPy scalars and arrays to plain Python (for JSON records)."""
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_python(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


# ------------------------------------------------------------- the data
def is_lazy(signal):
    return getattr(signal, "_lazy", False)


def check_scan_signal(signal, name="signal"):
    """A HyperSpy signal with a 2D scan and at least one signal dimension."""
    check_signal(signal, name)
    nav = signal.axes_manager.navigation_dimension
    if nav != 2:
        raise ValueError(
            f"`{name}` must have 2 navigation dimensions (a 2D scan), got {nav} "
            f"(navigation shape {signal.axes_manager.navigation_shape})."
        )
    if signal.axes_manager.signal_dimension < 1:
        raise ValueError(f"`{name}` must have at least one signal dimension.")
    return signal


def _sum_inside_masks(data, masks):
    """Sum of the patterns inside each boolean mask: reads only the patterns
    inside the masks, a few thousand at a time, converted to float64."""
    nav_size = int(np.prod(data.shape[:2]))
    flat = data.reshape((nav_size,) + data.shape[2:])
    pixels = max(1, int(np.prod(data.shape[2:])))
    step = max(1, 2**22 // pixels)
    out = np.zeros((len(masks),) + data.shape[2:], dtype=np.float64)
    for i, mask in enumerate(masks.reshape(len(masks), nav_size)):
        index = np.flatnonzero(mask)
        for start in range(0, index.size, step):
            out[i] += flat[index[start : start + step]].sum(axis=0, dtype=np.float64)
    return out


def _weighted_blocks(data, weights):
    """Weighted sum of the patterns, blocks of probe positions at a time."""
    nav_size = int(np.prod(data.shape[:2]))
    flat = data.reshape((nav_size,) + data.shape[2:])
    w = weights.reshape(len(weights), nav_size)
    out = np.zeros((len(weights),) + data.shape[2:], dtype=np.float64)
    step = max(1, 2**22 // max(1, int(np.prod(data.shape[2:]))))
    for start in range(0, nav_size, step):
        block = np.asarray(flat[start : start + step], dtype=np.float64)
        out += np.tensordot(w[:, start : start + step], block, axes=(1, 0))
    return out


def _one_blas_thread(reduce, block, weights):
    """``reduce(block, weights)`` with one BLAS thread: dask's threads already
    use the cores (BLAS threads on top oversubscribe them)."""
    from hyperspy_rnmf._threads import single_blas_thread

    with single_blas_thread():
        return reduce(block, weights)


def _lazy_navigation_sums(data, weights, show_progressbar):
    """One dask computation over the chunks of probe positions; chunks with
    no weight are not read."""
    import itertools

    import dask

    n_sig = data.ndim - 2
    if any(len(c) > 1 for c in data.chunks[2:]):
        data = data.rechunk(data.chunks[:2] + ((-1,) * n_sig))
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in data.chunks[:2]]
    reduce = _sum_inside_masks if weights.dtype == bool else _weighted_blocks
    parts = []
    for i, j in itertools.product(*(range(len(c)) for c in data.chunks[:2])):
        rows = slice(bounds[0][i], bounds[0][i + 1])
        cols = slice(bounds[1][j], bounds[1][j + 1])
        w = weights[:, rows, cols]
        if w.any():
            w = w if w.dtype == bool else w.astype(np.float64)
            parts.append(dask.delayed(_one_blas_thread)(reduce, data.blocks[i, j], w))
    out = np.zeros((len(weights),) + data.shape[2:], dtype=np.float64)
    if parts:
        with dask_progress(show_progressbar):
            for part in dask.compute(*parts):
                out += part
    return out


def navigation_weighted_sums(signal, weights, show_progressbar=False):
    """``sum_p weights[s, p] * pattern_p`` for every row ``s`` of weights.

    At most one pass over the data: for boolean weights (masks) only the
    patterns inside the masks are read (for NumPy data); lazy data are
    reduced in one dask computation; integer data are converted block by
    block. ``weights`` has shape (n, *navigation array shape).
    """
    weights = np.asarray(weights)
    data = signal.data
    if is_lazy(signal):
        return _lazy_navigation_sums(data, weights, show_progressbar)
    if weights.dtype == bool:
        return _sum_inside_masks(data, weights)
    return _weighted_blocks(data, weights.astype(np.float64))


def signal_weighted_sums(signal, apertures, show_progressbar=False):
    """``sum_k pattern_p[k] * apertures[a, k]`` for every probe position p.

    One pass over the data, whatever the number of apertures: blocks of probe
    positions (dask chunks, or blocks of scan rows of NumPy data) go to
    threads, each running the compiled kernel of
    :mod:`~hyperspy_rnmf.segmentation._aperture_sums` (it releases the GIL).
    Products and sums are float32 (float64 for float64 data); integer data
    are converted in the kernel, eight patterns at a time.

    Parameters
    ----------
    signal : hyperspy signal with a 2D scan (lazy or not)
    apertures : scipy.sparse matrix or numpy.ndarray, shape (n, pixels)
        One row per aperture over the flattened pattern.
    show_progressbar : bool

    Returns
    -------
    numpy.ndarray, shape (n, *navigation array shape), float64
    """
    from hyperspy_rnmf.segmentation._aperture_sums import ApertureSums

    data = signal.data
    n = apertures.shape[0]
    sums = ApertureSums(
        apertures, np.float64 if data.dtype == np.float64 else np.float32
    )

    def block_product(block, out=None):
        """Sums of a block of scan rows, (rows, columns, n); written into
        ``out`` (a C-contiguous float64 array of that shape) if given."""
        block = np.asarray(block)
        shape = block.shape[:2] + (n,)
        flat = block.reshape(shape[0] * shape[1], -1)
        target = None if out is None else out.reshape(-1, n)
        return sums(flat, out=target).reshape(shape)

    if not is_lazy(signal):
        # blocks of whole scan rows shared among threads, each written
        # straight into the output (no dask: its from_array copies the
        # whole array)
        from concurrent.futures import ThreadPoolExecutor

        pattern_size = max(1, int(np.prod(data.shape[2:])))
        rows = max(1, _BLOCK_SIZE // (pattern_size * max(1, data.shape[1])))
        out = np.empty(data.shape[:2] + (n,))
        starts = range(0, data.shape[0], rows)

        def work(start):
            block_product(data[start : start + rows], out[start : start + rows])

        with ThreadPoolExecutor(min(len(starts), os.cpu_count() or 1)) as pool:
            for _ in progress(
                pool.map(work, starts),
                show_progressbar,
                total=len(starts),
                desc="pattern sums",
            ):
                pass
        return np.moveaxis(out, -1, 0)

    n_sig = data.ndim - 2
    blocks = data.rechunk(data.chunks[:2] + ((-1,) * n_sig))
    result = blocks.map_blocks(
        block_product,
        drop_axis=tuple(range(3, 2 + n_sig)),
        chunks=blocks.chunks[:2] + ((n,),),
        dtype=np.float64,
    )
    with dask_progress(show_progressbar):
        out = np.asarray(result.compute())
    return np.moveaxis(out, -1, 0)


# values per block of NumPy data in :func:`signal_weighted_sums`
_BLOCK_SIZE = 2**22


# ----------------------------------------------------------- signal builders
def image_signal(data, axes_like, title):
    """A Signal2D (one image) with the axes of ``axes_like``."""
    import hyperspy.api as hs

    s = hs.signals.Signal2D(np.asarray(data))
    copy_axes(s.axes_manager.signal_axes, axes_like)
    s.metadata.General.title = title
    return s


def axes_of(signal, which):
    """Calibrated axes of a signal: 'navigation' or 'signal' (HyperSpy order)."""
    am = signal.axes_manager
    return am.navigation_axes if which == "navigation" else am.signal_axes


def plain_axes(shape):
    """Uncalibrated stand-in axes for an array shape (array order)."""
    import hyperspy.api as hs

    s = hs.signals.BaseSignal(np.zeros(shape, dtype=np.int8)).transpose(
        signal_axes=len(shape)
    )
    return s.axes_manager.signal_axes
