"""Helpers shared by the ePDF signal classes and the integration function."""

import numbers

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import BaseSignal

BLOCK = 4096  # probe positions per block of the eager transforms


def _progress(show_progressbar):
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = preferences.General.show_progressbar
    return bool(show_progressbar)


def _nav_axes_dicts(signal):
    """Navigation axes of ``signal`` as dictionaries, in array order."""
    return [
        ax.get_axis_dictionary() for ax in signal.axes_manager.navigation_axes[::-1]
    ]


def _apply_rows(data, function, n_out, dtype, lazy, show_progressbar, block=BLOCK):
    """Apply ``function`` ((n, n_in) -> (n, n_out)) over the last axis of ``data``.

    Eager data are processed in blocks of ``block`` rows (with a progress bar);
    lazy data become a dask graph with one task per navigation chunk.
    """
    lead = data.shape[:-1]
    if lazy:
        import dask.array as da

        data = data.rechunk({data.ndim - 1: -1})

        def on_block(chunk):
            rows = np.asarray(chunk).reshape(-1, chunk.shape[-1])
            return function(rows).astype(dtype).reshape(chunk.shape[:-1] + (n_out,))

        return da.map_blocks(
            on_block, data, dtype=dtype, chunks=data.chunks[:-1] + ((n_out,),)
        )
    rows = np.asarray(data).reshape(-1, data.shape[-1])
    out = np.empty((rows.shape[0], n_out), dtype=dtype)
    starts = range(0, rows.shape[0], block)
    if _progress(show_progressbar) and rows.shape[0] > block:
        from hyperspy.external.progressbar import progressbar

        starts = progressbar(starts, total=len(starts), leave=True)
    for start in starts:
        out[start : start + block] = function(rows[start : start + block])
    return out.reshape(lead + (n_out,))


def _new_signal(source, cls, lazy_cls, data, signal_axis, quantity, title):
    axes = _nav_axes_dicts(source) + [dict(signal_axis, navigate=False)]
    klass = lazy_cls if _is_lazy(data) else cls
    out = klass(data, axes=axes)
    metadata = source.metadata.as_dictionary()
    metadata.get("Signal", {}).pop("signal_type", None)
    # the source's noise variance belongs to the source's axes and quantity
    metadata.get("Signal", {}).pop("Noise_properties", None)
    out.metadata.add_dictionary(metadata)
    out.metadata.set_item("Signal.signal_type", cls._signal_type)
    out.metadata.set_item("Signal.quantity", quantity)
    out.metadata.set_item("General.title", title)
    out.original_metadata.add_dictionary(source.original_metadata.as_dictionary())
    return out


def _is_lazy(data):
    return type(data).__module__.startswith("dask")


def _nav_map(source, data, name, units, quantity):
    """A navigation-shaped map (BaseSignal, signal dimension 0)."""
    klass = LazySignal if _is_lazy(data) else BaseSignal
    if source.axes_manager.navigation_dimension == 0:
        out = klass(data.reshape(1))
        out.axes_manager[0].name = name
    else:
        out = klass(data, axes=_nav_axes_dicts(source))
    out.metadata.set_item("General.title", f"{source.metadata.General.title} {name}")
    out.metadata.set_item(
        "Signal.quantity", f"{quantity} ({units})" if units else quantity
    )
    return out


def _real(name, value, allowed):
    """``value`` as a float; raise unless it is a finite real number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
    ):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return float(value)


def _mean_rows(data, lazy, with_finite=False):
    """Mean over the navigation (NaN where every row is NaN: masked bins).

    With ``with_finite``, also whether any row is finite at each signal
    index (False: a masked or empty bin), from the same pass.
    """
    import warnings

    rows = data.reshape(-1, data.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN
        if lazy:
            import dask.array as da

            wanted = [da.nanmean(rows, axis=0)]
            if with_finite:
                wanted.append(da.isfinite(rows).any(axis=0))
            results = [np.asarray(r) for r in da.compute(*wanted)]
        else:
            results = [np.nanmean(rows, axis=0)]
            if with_finite:
                results.append(np.isfinite(rows).any(axis=0))
    if with_finite:
        return results[0], results[1]
    return results[0]
