"""hyperspy-rnmf: fast, trustworthy unsupervised phase mapping of 4D-STEM data.

Public API (imported on first use, so that ``import hyperspy_rnmf`` and the
start-up registration hook stay cheap):

- :class:`RandomizedNMF`: randomized NMF as a scikit-learn estimator.
- :func:`rnmf_decomposition`: what ``s.decomposition("rnmf")`` runs.
- :func:`scan_components` (and :class:`KScanResult`), :func:`residual_maps`,
  :func:`overlap_maps`: choosing k and judging a factorization.
- :func:`integrate_azimuthal`, :func:`integrate_decomposition_factors` and the
  ePDF signal classes: electron pair distribution functions.
- :func:`segment_decomposition` (NMF route), :func:`segment_vdf` (VDF route),
  :class:`SegmentationResult`, :func:`load_segmentation`,
  :func:`compare_routes`: nanocrystal segmentation
  (:mod:`hyperspy_rnmf.segmentation` has every step).
- :mod:`hyperspy_rnmf.datasets`: synthetic 4D-STEM data with known factors.
"""

import importlib

from hyperspy_rnmf._autoload import install as _install
from hyperspy_rnmf._version import __version__

_LAZY = {
    "RandomizedNMF": "hyperspy_rnmf.rnmf",
    "rnmf_decomposition": "hyperspy_rnmf.decomposition",
    "scan_components": "hyperspy_rnmf.kscan",
    "KScanResult": "hyperspy_rnmf.kscan",
    "residual_maps": "hyperspy_rnmf.diagnostics",
    "overlap_maps": "hyperspy_rnmf.diagnostics",
    "integrate_azimuthal": "hyperspy_rnmf.integration",
    "integrate_decomposition_factors": "hyperspy_rnmf.integration",
    "ePDFSignal1D": "hyperspy_rnmf.signals.epdf",
    "ePDFStructureFactor1D": "hyperspy_rnmf.signals.epdf",
    "ePDFReducedStructureFunction1D": "hyperspy_rnmf.signals.epdf",
    "ePDFReducedPDF1D": "hyperspy_rnmf.signals.epdf",
    "segment_decomposition": "hyperspy_rnmf.segmentation",
    "segment_vdf": "hyperspy_rnmf.segmentation",
    "SegmentationResult": "hyperspy_rnmf.segmentation",
    "load_segmentation": "hyperspy_rnmf.segmentation",
    "compare_routes": "hyperspy_rnmf.segmentation",
    "datasets": "hyperspy_rnmf.datasets",
    "segmentation": "hyperspy_rnmf.segmentation",
}
_MODULES = {"datasets", "segmentation"}

__all__ = sorted(_LAZY) + ["__version__"]

_install()


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if name in _MODULES else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hyperspy_rnmf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
