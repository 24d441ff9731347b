"""Compile the package's numba kernels, cached on disk where that is possible.

numba caches compiled kernels next to their source file, or under
``NUMBA_CACHE_DIR``, or in the user's cache folder. Where none of these is
writable (a read-only installation run by a user without a writable home,
e.g. some cluster nodes and containers), ``njit(cache=True)`` raises
``RuntimeError: cannot cache function ...: no locator available`` (measured
with numba 0.68 as an unprivileged user): the fit or segmentation that
needed the kernel would fail. There the kernel is compiled without the disk
cache instead, once per process (about 1 s for the HALS sweep), and a
warning says how to get the cache back.
"""

import warnings


def compile_kernel(func, **options):
    """``numba.njit(cache=True, **options)(func)``, or without the cache (and
    a warning) where numba finds no writable cache location."""
    import numba

    try:
        return numba.njit(cache=True, **options)(func)
    except RuntimeError as error:
        if "no locator available" not in str(error):
            raise
        warnings.warn(
            f"numba cannot cache the compiled kernel {func.__name__!r} (no "
            "writable cache location): it is compiled in every new Python "
            "process. Set the environment variable NUMBA_CACHE_DIR to a "
            "writable folder to cache it.",
            RuntimeWarning,
            stacklevel=2,
        )
        return numba.njit(**options)(func)
