"""Checks of the arguments shared by the public functions."""


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
