"""The result of a nanocrystal segmentation, shared by the NMF and VDF routes.

A :class:`SegmentationResult` holds HyperSpy signals with the calibration of
the data (navigation axes for maps, signal axes for patterns), the record of
which components or virtual dark-field segments were merged, and every
parameter used. The signals are built from the computed arrays on first
access (a HyperSpy signal costs a few milliseconds to create, more than most
of a segmentation), then cached.

It saves to one ``.hspy`` or ``.zspy`` file (rosettasciio): the label image is
the file's signal, and the other signals, the merge record and the parameters
(as JSON text, so that they round-trip exactly) are in its metadata under
``Segmentation``.
"""

import json
import numbers

import numpy as np

from hyperspy_rnmf.segmentation._common import to_python

FORMAT_VERSION = 1
_STACKS = ("maps", "masks", "patterns", "mean_patterns")
_SIGNALS = _STACKS + ("labels",)
_TITLES = {
    "maps": "segment maps",
    "masks": "segment masks",
    "mean_patterns": "mean measured patterns",
    "labels": "segment labels",
}


def _axis_dicts(axes):
    """Axis dictionaries (array order, not navigating) of HyperSpy axes."""
    out = []
    for axis in axes[::-1]:
        d = axis.get_axis_dictionary()
        d["navigate"] = False
        out.append(d)
    return out


class SegmentationResult:
    """Crystals found by a segmentation: maps, patterns, labels, record.

    Attributes
    ----------
    maps : hyperspy.api.signals.Signal2D
        One intensity map per segment (navigation: segments; signal: the
        scan, with its calibration): the merged loading in counts (NMF route)
        or the merged virtual dark-field intensity (VDF route) inside the
        segment, 0 outside.
    masks : hyperspy.api.signals.Signal2D (bool)
        The positions of each segment (segments may overlap).
    patterns : hyperspy.api.signals.Signal2D
        One pattern per segment, with the calibration of the data's signal
        axes: the merged NMF factor (sum 1), or the virtual diffraction
        pattern drawn from the segment's diffraction vectors.
    mean_patterns : hyperspy.api.signals.Signal2D or None
        The mean measured pattern inside each segment (None if the data were
        not given).
    labels : hyperspy.api.signals.Signal2D (int32)
        Label image of the scan: 0 where no segment is, else ``i + 1`` for
        the segment ``i`` with the largest map value at that position.
    merge_record : dict
        Which components (NMF) or VDF segments and diffraction vectors (VDF)
        make each segment; see the route's documentation.
    parameters : dict
        Every parameter of the route, including the defaults derived from
        the data.
    route : str
        ``"nmf"`` or ``"vdf"``.

    Examples
    --------
    >>> result = segment_decomposition(s)                   # doctest: +SKIP
    >>> result.plot()                                       # doctest: +SKIP
    >>> result.save("crystals.hspy")                        # doctest: +SKIP
    >>> result = SegmentationResult.load("crystals.hspy")   # doctest: +SKIP
    """

    def __init__(
        self,
        maps,
        masks,
        patterns,
        mean_patterns,
        labels,
        merge_record,
        parameters,
        route,
    ):
        self._signals = {
            "maps": maps,
            "masks": masks,
            "patterns": patterns,
            "mean_patterns": mean_patterns,
            "labels": labels,
        }
        self._arrays = {}
        self._axes = {}
        self.merge_record = merge_record
        self.parameters = parameters
        self.route = route

    @classmethod
    def _from_arrays(
        cls, arrays, scan_axes, pattern_axes, merge_record, parameters, route
    ):
        """A result whose signals are built from ``arrays`` when first used.

        ``scan_axes``/``pattern_axes``: HyperSpy axes (HyperSpy order)."""
        result = cls(None, None, None, None, None, merge_record, parameters, route)
        result._arrays = dict(arrays)
        scan = _axis_dicts(scan_axes)
        pattern = _axis_dicts(pattern_axes)
        result._axes = {
            "maps": scan,
            "masks": scan,
            "labels": scan,
            "patterns": pattern,
            "mean_patterns": pattern,
        }
        return result

    def _get(self, name):
        signal = self._signals.get(name)
        if signal is None and self._arrays.get(name) is not None:
            signal = self._build(name)
            self._signals[name] = signal
        return signal

    def _build(self, name):
        import hyperspy.api as hs

        data = self._arrays[name]
        axes = [dict(d) for d in self._axes[name]]
        if name != "labels":
            axes = [{"name": "segment", "size": len(data), "navigate": True}] + axes
        sig_dim = data.ndim if name == "labels" else data.ndim - 1
        cls = {1: hs.signals.Signal1D, 2: hs.signals.Signal2D}.get(
            sig_dim, hs.signals.BaseSignal
        )
        signal = cls(data, axes=axes)
        if name == "patterns":
            title = (
                "merged factors"
                if self.route == "nmf"
                else ("virtual diffraction patterns")
            )
        else:
            title = _TITLES[name]
        signal.metadata.General.title = f"{title} ({self.route})"
        signal.metadata.set_item(
            "Segmentation",
            {"route": self.route, "parameters": to_python(self.parameters)},
        )
        return signal

    @property
    def maps(self):
        return self._get("maps")

    @property
    def masks(self):
        return self._get("masks")

    @property
    def patterns(self):
        return self._get("patterns")

    @property
    def mean_patterns(self):
        return self._get("mean_patterns")

    @property
    def labels(self):
        return self._get("labels")

    # ------------------------------------------------------------- basics
    def __len__(self):
        if self._arrays.get("masks") is not None:
            return int(self._arrays["masks"].shape[0])
        return int(self._signals["masks"].data.shape[0])

    @property
    def n_segments(self):
        """Number of segments."""
        return len(self)

    def __repr__(self):
        scan = self.labels.data.shape
        return (
            f"<SegmentationResult, route: {self.route}, {len(self)} segment(s), "
            f"scan {scan[1]} x {scan[0]}>"
        )

    def segment_vectors(self, index):
        """Diffraction vectors (n, 2) of segment ``index`` (VDF route only),
        in calibrated units, (kx, ky) order."""
        if "segment_vectors" not in self.merge_record:
            raise ValueError(
                "This segmentation has no diffraction vectors (route "
                f"{self.route!r}); only the VDF route records them."
            )
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(
                f"`index` must be an integer segment index in [0, {len(self) - 1}], "
                f"got {index!r}."
            )
        if not 0 <= index < len(self):
            raise ValueError(f"`index` must be in [0, {len(self) - 1}], got {index!r}.")
        index = int(index)
        vectors = np.asarray(self.merge_record["vectors"], dtype=np.float64)
        vectors = vectors.reshape(-1, 2)
        return vectors[np.asarray(self.merge_record["segment_vectors"][index], int)]

    # -------------------------------------------------------------- plot
    def plot(self, segments=None, *, gamma=0.5, cmap="magma", figsize=None):
        """Maps and patterns of the segments side by side (one row each).

        Columns: the segment's map, its pattern (merged factor or virtual
        diffraction pattern) and, if computed, its mean measured pattern.

        Parameters
        ----------
        segments : sequence of int, optional
            Which segments (default: all).
        gamma : float, default 0.5
            Power-law colour scale of the patterns (1 = linear).
        cmap : str, default 'magma'
        figsize : tuple, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt
        from matplotlib.colors import PowerNorm

        index = list(range(len(self))) if segments is None else list(segments)
        for i in index:
            if (
                isinstance(i, bool)
                or not isinstance(i, (int, np.integer))
                or not (0 <= i < len(self))
            ):
                raise ValueError(
                    f"`segments` contains {i!r}; this result has {len(self)} "
                    "segment(s)."
                )
        columns = [("map", self.maps, False), ("pattern", self.patterns, True)]
        if self.mean_patterns is not None:
            columns.append(("mean measured pattern", self.mean_patterns, True))
        n_rows = max(len(index), 1)
        if figsize is None:
            figsize = (3.2 * len(columns), 2.8 * n_rows)
        fig, axes = plt.subplots(n_rows, len(columns), figsize=figsize, squeeze=False)
        for row, i in enumerate(index):
            for col, (title, signal, is_pattern) in enumerate(columns):
                ax = axes[row, col]
                data = np.asarray(signal.data[i], dtype=np.float64)
                kwargs = {"cmap": cmap, "extent": _extent(signal)}
                if is_pattern:
                    finite = data[np.isfinite(data)]
                    top = float(finite.max()) if finite.size else 1.0
                    kwargs["norm"] = PowerNorm(
                        gamma, vmin=0, vmax=top if top > 0 else 1.0
                    )
                if data.ndim == 1:
                    ax.plot(data)
                else:
                    ax.imshow(data, **kwargs)
                ax.set_title(f"segment {i}: {title}", fontsize=9)
                ax.tick_params(labelsize=7)
        if not index:
            for ax in axes[0]:
                ax.set_title("no segment")
        fig.tight_layout()
        return fig

    def plot_labels(self, cmap="tab20"):
        """The label image (0 = no segment, transparent)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        data = np.ma.masked_equal(self.labels.data, 0)
        ax.imshow(data, cmap=cmap, extent=_extent(self.labels), interpolation="nearest")
        ax.set_title(f"{len(self)} segment(s)")
        return fig

    # ----------------------------------------------------------- storage
    def save(self, filename, overwrite=None):
        """Save everything to one ``.hspy`` or ``.zspy`` file.

        The label image is the file's signal; the other signals, the merge
        record and the parameters are in its metadata (``Segmentation``).
        ``hs.load`` opens the file as the label image;
        :meth:`SegmentationResult.load` restores the whole result.
        """
        container = self.labels.deepcopy()
        node = "Segmentation"
        container.metadata.set_item(f"{node}.format_version", FORMAT_VERSION)
        container.metadata.set_item(f"{node}.route", self.route)
        empty = len(self) == 0
        container.metadata.set_item(f"{node}.empty", empty)
        for name in _STACKS:
            signal = getattr(self, name)
            if signal is None:
                continue
            stored = signal.deepcopy()
            if empty:  # HDF5/zarr cannot store a size-0 axis: keep one blank
                stored = _resized(
                    stored,
                    np.zeros((1,) + signal.data.shape[1:], dtype=signal.data.dtype),
                )
            container.metadata.set_item(f"{node}.{name}", stored)
        container.metadata.set_item(
            f"{node}.merge_record_json", json.dumps(to_python(self.merge_record))
        )
        container.metadata.set_item(
            f"{node}.parameters_json", json.dumps(to_python(self.parameters))
        )
        container.save(filename, overwrite=overwrite)

    @classmethod
    def load(cls, filename):
        """Load a result written by :meth:`save`."""
        import hyperspy.api as hs

        container = hs.load(filename)
        if not container.metadata.has_item("Segmentation.format_version"):
            raise ValueError(
                f"{filename!r} is not a segmentation result (no "
                "'Segmentation' node in its metadata)."
            )
        node = container.metadata.Segmentation
        signals = {
            name: node.get_item(name) if node.has_item(name) else None
            for name in _STACKS
        }
        if node.get_item("empty", False):
            signals = {
                name: None if s is None else _resized(s, s.data[:0])
                for name, s in signals.items()
            }
        merge_record = json.loads(node.merge_record_json)
        parameters = json.loads(node.parameters_json)
        route = node.route
        del container.metadata.Segmentation
        container.metadata.set_item(
            "Segmentation", {"route": route, "parameters": parameters}
        )
        if container.metadata.has_item("General.FileIO"):
            del container.metadata.General.FileIO
        return cls(
            labels=container,
            merge_record=merge_record,
            parameters=parameters,
            route=route,
            **signals,
        )


def load_segmentation(filename):
    """Load a :class:`SegmentationResult` saved with its ``save`` method."""
    return SegmentationResult.load(filename)


def _resized(signal, data):
    """A copy of a segment stack with other data along the segment axis."""
    import hyperspy.api as hs

    axes = [{"name": "segment", "size": len(data), "navigate": True}]
    axes += _axis_dicts(signal.axes_manager.signal_axes)
    cls = (
        type(signal)
        if type(signal) in (hs.signals.Signal1D, hs.signals.Signal2D)
        else hs.signals.BaseSignal
    )
    out = cls(data, axes=axes)
    out.metadata.add_dictionary(signal.metadata.as_dictionary())
    return out


def _extent(signal):
    axes = signal.axes_manager.signal_axes
    if len(axes) != 2:
        return None
    x, y = axes
    return (
        x.offset - x.scale / 2,
        x.offset + x.scale * (x.size - 0.5),
        y.offset + y.scale * (y.size - 0.5),
        y.offset - y.scale / 2,
    )


def build_result(
    *,
    maps,
    masks,
    patterns,
    mean_patterns,
    scan_axes,
    pattern_axes,
    merge_record,
    parameters,
    route,
):
    """Assemble a :class:`SegmentationResult` from arrays.

    ``maps``/``masks`` (n, rows, cols), ``patterns``/``mean_patterns``
    (n, *pattern shape) or None; ``scan_axes``/``pattern_axes`` are the
    HyperSpy axes to copy (HyperSpy order).
    """
    maps = np.asarray(maps)
    masks = np.asarray(masks, dtype=bool)
    arrays = {
        "maps": maps,
        "masks": masks,
        "patterns": np.asarray(patterns),
        "mean_patterns": None if mean_patterns is None else np.asarray(mean_patterns),
        "labels": label_image(maps, masks),
    }
    return SegmentationResult._from_arrays(
        arrays,
        scan_axes,
        pattern_axes,
        to_python(merge_record),
        to_python(parameters),
        route,
    )


def label_image(maps, masks):
    """0 where no segment, else 1 + the segment with the largest map value."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if len(masks) == 0:
        return np.zeros(masks.shape[1:], dtype=np.int32)
    labels = np.zeros(masks.shape[1:], dtype=np.int32).reshape(-1)
    best = np.full(labels.shape, -np.inf)
    for i in range(len(masks)):  # segments are small: their positions only
        flat = np.flatnonzero(masks[i])
        values = maps[i].reshape(-1)[flat]
        values = np.where(np.isnan(values), -1e300, values)
        better = values > best[flat]  # ties: the first segment wins
        labels[flat[better]] = i + 1
        best[flat[better]] = values[better]
    return labels.reshape(masks.shape[1:])


def segment_order(maps, masks):
    """Segments by decreasing total intensity, then position: a canonical
    order that does not depend on the order of the components."""
    n = len(maps)
    total, centres = np.zeros(n), np.zeros((n, 2))
    for i in range(n):  # segments are small: work on their positions only
        pixels = np.nonzero(masks[i])
        if pixels[0].size:
            total[i] = np.nansum(maps[i][pixels])
            centres[i] = [pixels[0].mean(), pixels[1].mean()]
    return order_by_intensity(total, centres)


def order_by_intensity(total, centres):
    """The order of :func:`segment_order` from each segment's total
    intensity and centre (row, column)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    return np.lexsort((centres[:, 1], centres[:, 0], -np.asarray(total)))
