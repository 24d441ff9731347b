"""Make ``s.decomposition("rnmf")`` work without importing hyperspy_rnmf.

HyperSpy has no registry of decomposition algorithms and imports no code from
its extensions, so hyperspy-rnmf installs a one-line ``hyperspy_rnmf.pth`` file
in site-packages. Python runs it at start-up; it calls :func:`install`, which
puts a small finder at the front of ``sys.meta_path``. The finder does nothing
until ``hyperspy.learn._mva`` or ``hyperspy._signals.lazy`` is imported; it
then lets the normal loader import the module and wraps the ``decomposition``
method of ``MVA`` / ``LazySignal`` (:mod:`hyperspy_rnmf._hyperspy_patch`).
The wrapper hands ``algorithm="rnmf"`` (or a RandomizedNMF object) to
:func:`hyperspy_rnmf.rnmf_decomposition` and everything else, untouched, to
HyperSpy.

This module imports only the standard library: it costs well under a
millisecond at start-up and nothing is imported from hyperspy_rnmf, NumPy or
scikit-learn until an rnmf decomposition runs. If anything goes wrong the
error becomes a warning and HyperSpy works as if hyperspy-rnmf were absent.
Set the environment variable ``HYPERSPY_RNMF_DISABLE=1`` to switch it off:
before Python starts, or in the session (``os.environ``, Jupyter's ``%env``)
before HyperSpy is imported; it is read when HyperSpy's modules load.
"""

import importlib.abc
import importlib.util
import os
import sys
import warnings

ENV_VAR = "HYPERSPY_RNMF_DISABLE"

#: Modules whose class gets its ``decomposition`` method wrapped.
TARGETS = {"hyperspy.learn._mva": "MVA", "hyperspy._signals.lazy": "LazySignal"}


def disabled():
    """True when ``HYPERSPY_RNMF_DISABLE`` is set to 1/true/yes/on."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _patch(module_name, module):
    try:
        from hyperspy_rnmf._hyperspy_patch import patch_class

        patch_class(getattr(module, TARGETS[module_name]))
    except Exception as exc:  # never break HyperSpy
        warnings.warn(
            f"hyperspy-rnmf could not register algorithm='rnmf' in "
            f"{module_name} ({exc!r}); HyperSpy works as usual. Set "
            f"{ENV_VAR}=1 to turn the registration off.",
            RuntimeWarning,
            stacklevel=2,
        )


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the module it created."""

    def __init__(self, loader, name):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(self._name, module)

    def __getattr__(self, attr):  # get_source, get_filename, is_package, ...
        return getattr(self._loader, attr)


class RNMFFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that only reacts to the HyperSpy modules in TARGETS."""

    _hyperspy_rnmf = True

    def __init__(self):
        self._busy = set()

    def find_spec(self, fullname, path, target=None):
        if fullname not in TARGETS or fullname in self._busy or disabled():
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:
            return None
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        if not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def install():
    """Register algorithm="rnmf" in HyperSpy now or when HyperSpy is imported.

    Idempotent; does nothing when ``HYPERSPY_RNMF_DISABLE`` is set.
    """
    if disabled():
        return
    for name in TARGETS:
        module = sys.modules.get(name)
        if module is not None:
            _patch(name, module)
    if not any(getattr(f, "_hyperspy_rnmf", False) for f in sys.meta_path):
        sys.meta_path.insert(0, RNMFFinder())
