"""Calibrated axes for signals built from arrays (maps, stacks of maps)."""

import numpy as np


def copy_axes(target_axes, source_axes):
    """Copy name, units, scale and offset of ``source_axes`` onto ``target_axes``
    (HyperSpy axes, same number, same order)."""
    for target, source in zip(target_axes, source_axes, strict=True):
        target.name, target.units = source.name, source.units
        target.scale, target.offset = source.scale, source.offset


def map_signal(values, source_axes, title):
    """``values`` as a signal whose signal axes are ``source_axes``.

    ``values`` holds one map (any shape with the size of the axes) or a stack
    of them (leading dimension: navigation).
    """
    import hyperspy.api as hs

    shape = tuple(ax.size for ax in source_axes[::-1])
    values = np.asarray(values)
    size = int(np.prod(shape))
    lead = () if values.size == size else (values.size // size,)
    s = hs.signals.BaseSignal(values.reshape(lead + shape)).transpose(
        signal_axes=len(shape)
    )
    copy_axes(s.axes_manager.signal_axes, source_axes)
    s.metadata.General.title = title
    return s
