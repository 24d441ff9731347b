"""Nanocrystal segmentation of 4D-STEM data (Bergh et al., J. Microsc. 279 (2020)).

Two routes give the same :class:`SegmentationResult`:

* the NMF route, :func:`segment_decomposition`: merge correlated components
  of a decomposition, split their loading maps by watershed;
* the VDF route, :func:`segment_vdf`: virtual dark-field images of every
  diffraction vector, split by watershed, merged by correlation.
"""

from hyperspy_rnmf.segmentation._correlation import correlation_matrix
from hyperspy_rnmf.segmentation._result import SegmentationResult, load_segmentation
from hyperspy_rnmf.segmentation._watershed import watershed_segments
from hyperspy_rnmf.segmentation.compare import (
    SegmentationComparison,
    compare_routes,
    compare_segmentations,
    iou_matrix,
)
from hyperspy_rnmf.segmentation.nmf_route import (
    component_correlations,
    mean_patterns_in,
    merge_components,
    segment_decomposition,
)
from hyperspy_rnmf.segmentation.vdf_route import (
    DiffractionPeaks,
    UniqueVectors,
    estimate_vdf_parameters,
    find_diffraction_peaks,
    merge_vdf_segments,
    segment_vdf,
    subtract_background,
    unique_vectors,
    vdf_images,
    vdf_segments,
    virtual_patterns,
)

__all__ = [
    "DiffractionPeaks",
    "SegmentationComparison",
    "SegmentationResult",
    "UniqueVectors",
    "compare_routes",
    "compare_segmentations",
    "component_correlations",
    "correlation_matrix",
    "estimate_vdf_parameters",
    "find_diffraction_peaks",
    "iou_matrix",
    "load_segmentation",
    "mean_patterns_in",
    "merge_components",
    "merge_vdf_segments",
    "segment_decomposition",
    "segment_vdf",
    "subtract_background",
    "unique_vectors",
    "vdf_images",
    "vdf_segments",
    "virtual_patterns",
    "watershed_segments",
]
