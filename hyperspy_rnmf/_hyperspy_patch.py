"""The wrapper around HyperSpy's ``decomposition`` methods.

Only calls that ask for RandomizedNMF are diverted: ``algorithm="rnmf"``
(any case), a RandomizedNMF object, or either of them as first positional
argument (HyperSpy's first parameter is ``normalize_poissonian_noise``, so
``s.decomposition("rnmf")`` would otherwise mean "normalise, then SVD", and
``s.decomposition(RandomizedNMF(3))`` the same, silently).
Every other call reaches HyperSpy's method unchanged, with a warning when
its first positional argument is another string (``s.decomposition("NMF")``
would silently run SVD on Poisson-normalised data). Imports only the
standard library until an rnmf call happens.
"""

import functools
import inspect
import warnings

_NOTE = """

    .. note:: hyperspy-rnmf adds ``algorithm="rnmf"`` (randomized NMF, also
       ``s.decomposition("rnmf", output_dimension=k)``); see
       :func:`hyperspy_rnmf.rnmf_decomposition` for its options.
"""


def _is_rnmf(value):
    """True for "rnmf" (any case) and RandomizedNMF objects, subclasses too.

    The class is recognised by name and module, so that nothing is imported
    for HyperSpy's own algorithms.
    """
    if isinstance(value, str):
        return value.lower() == "rnmf"
    return any(
        cls.__name__ == "RandomizedNMF" and cls.__module__ == "hyperspy_rnmf.rnmf"
        for cls in type(value).__mro__
    )


def _warn_positional_string(value, algorithm=None):
    """HyperSpy reads a string first argument as ``normalize_poissonian_noise``
    (its truth value): say so, and how to ask for an algorithm. Without
    ``algorithm`` HyperSpy also keeps its default algorithm."""
    if algorithm is None:
        consequence = (
            "and the algorithm is not changed (the default is SVD). Name the "
            f"algorithm: algorithm={value!r}; give"
        )
    else:
        consequence = (
            f"for algorithm={algorithm!r}. If that is not meant, remove the "
            f"string; give"
        )
    warnings.warn(
        f"decomposition({value!r}, ...): HyperSpy's first positional parameter "
        f"is normalize_poissonian_noise, so the string {value!r} is read as "
        f"normalize_poissonian_noise={bool(value)} {consequence} "
        "normalize_poissonian_noise as True or False (only 'rnmf' is recognised "
        "as a first positional argument, by hyperspy-rnmf).",
        UserWarning,
        stacklevel=4,  # the user's call of decomposition
    )


def _rnmf_arguments(signature, self, args, kwargs):
    """Explicitly passed arguments of an rnmf call, or None if not an rnmf call."""
    algorithm = kwargs.get("algorithm", args[1] if len(args) > 1 else None)
    if args and _is_rnmf(args[0]):
        if "algorithm" in kwargs:
            raise TypeError(
                f"decomposition() got the algorithm twice: {args[0]!r} as first "
                f"argument and algorithm={kwargs['algorithm']!r}."
            )
        kwargs = dict(kwargs)
        poisson = kwargs.pop("normalize_poissonian_noise", False)
        args = (poisson,) + args
    elif not _is_rnmf(algorithm):
        if args and isinstance(args[0], str):
            _warn_positional_string(args[0], algorithm)
        return None  # (for rnmf, a string flag is refused by its own checks)
    bound = signature.bind(self, *args, **kwargs)
    arguments = dict(bound.arguments)
    arguments.pop("self")
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
    return arguments


def patch_class(cls):
    """Wrap ``cls.decomposition`` (idempotent)."""
    original = cls.__dict__["decomposition"]
    if getattr(original, "_hyperspy_rnmf_original", None) is not None:
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def decomposition(self, *args, **kwargs):
        arguments = _rnmf_arguments(signature, self, args, kwargs)
        if arguments is None:
            return original(self, *args, **kwargs)
        from hyperspy_rnmf.decomposition import rnmf_decomposition

        return rnmf_decomposition(self, **arguments)

    decomposition._hyperspy_rnmf_original = original
    decomposition.__doc__ = (original.__doc__ or "") + _NOTE
    cls.decomposition = decomposition
