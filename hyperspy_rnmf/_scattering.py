"""Electron atomic scattering factors and sample compositions for ePDF analysis.

The elastic electron scattering factor ``f(Q)`` of a neutral atom (in Å) is
evaluated from the parameterisations that diffsims ships:

``"lobato"`` (default)
    Lobato & Van Dyck (2014), five hydrogen-like terms,
    ``f(g) = sum_i a_i (2 + b_i g^2) / (1 + b_i g^2)^2``, valid up to
    ``g = 12 1/Å``; elements H to Lr
    (:data:`diffsims.utils.lobato_scattering_params.ATOMIC_SCATTERING_PARAMS_LOBATO`).
``"kirkland"``
    Kirkland (2010), three Lorentzians and three Gaussians,
    ``f(g) = sum_i a_i / (g^2 + b_i) + sum_i c_i exp(-d_i g^2)``; H to Lr
    (:data:`diffsims.utils.scattering_params.scattering_params`).
``"peng"``
    Peng, Ren, Dudarev & Whelan (1996), five Gaussians,
    ``f(s) = sum_i a_i exp(-b_i s^2)`` with ``s = g / 2``, valid up to
    ``s = 2 1/Å``; H to Cf (International Tables C, table 4.3.2.3, diffsims'
    ``"xtables"``: ``diffsims.utils.atomic_scattering_params``).

Here ``g = 1/d`` and ``Q = 2 pi g = 4 pi sin(theta) / lambda``. All functions of
this module take ``Q`` in 1/Å.

References
----------
I. Lobato and D. Van Dyck, Acta Cryst. A 70 (2014) 636-649.
E. J. Kirkland, Advanced Computing in Electron Microscopy, 2nd ed. (2010),
appendix C.
L.-M. Peng, G. Ren, S. L. Dudarev and M. J. Whelan, Acta Cryst. A 52 (1996)
257-276.
"""

import re

import numpy as np

SCATTERING_FACTOR_TABLES = ("lobato", "kirkland", "peng")

REFERENCES = {
    "lobato": "Lobato & Van Dyck, Acta Cryst. A 70 (2014) 636 (diffsims "
    "ATOMIC_SCATTERING_PARAMS_LOBATO)",
    "kirkland": "Kirkland, Advanced Computing in Electron Microscopy, 2nd ed. "
    "(2010), appendix C (diffsims scattering_params)",
    "peng": "Peng, Ren, Dudarev & Whelan, Acta Cryst. A 52 (1996) 257; "
    "International Tables C, table 4.3.2.3 (diffsims ATOMIC_SCATTERING_PARAMS)",
}

_TOKEN = re.compile(r"([A-Z][a-z]?)|(\d+(?:\.\d*)?|\.\d+)|(\()|(\))|(\s+)")


def _lobato_table():
    from diffsims.utils.lobato_scattering_params import ATOMIC_SCATTERING_PARAMS_LOBATO

    return ATOMIC_SCATTERING_PARAMS_LOBATO


def element_symbols():
    """Element symbols H to Lr in order of atomic number (from diffsims)."""
    return tuple(_lobato_table())


def _table_elements(table):
    if table == "peng":
        from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

        return tuple(ATOMIC_SCATTERING_PARAMS)
    return element_symbols()


def _check_table(table):
    if table not in SCATTERING_FACTOR_TABLES:
        raise ValueError(
            f"`scattering_factors` must be one of {SCATTERING_FACTOR_TABLES}, "
            f"got {table!r}."
        )


def parse_composition(composition):
    """Atomic fractions of a composition.

    Parameters
    ----------
    composition : str or dict
        A chemical formula (``"SiO2"``, ``"Li10GeP2S12"``, ``"Ca(OH)2"``,
        ``"Si0.33O0.67"``) or a mapping from element symbol to amount
        (``{"Si": 1, "O": 2}``); amounts are relative and need not sum to 1.

    Returns
    -------
    dict
        Element symbol -> atomic fraction, in order of first appearance,
        fractions summing to 1.

    Raises
    ------
    ValueError
        Empty, unparsable composition, unknown element, non-positive or
        non-finite amount.

    Examples
    --------
    >>> parse_composition("SiO2")
    {'Si': 0.3333333333333333, 'O': 0.6666666666666666}
    """
    if composition is None:
        raise ValueError(
            "`composition` is required: pass a formula such as 'SiO2' or a "
            "mapping of element fractions such as {'Si': 1, 'O': 2}."
        )
    if isinstance(composition, str):
        amounts = _parse_formula(composition)
    elif isinstance(composition, dict):
        amounts = {}
        for element, amount in composition.items():
            _check_element(element, composition)
            try:
                value = float(amount)
            except (TypeError, ValueError):
                raise ValueError(
                    f"`composition` amount of {element!r} must be a number, "
                    f"got {amount!r}."
                ) from None
            if not np.isfinite(value) or value <= 0:
                raise ValueError(
                    f"`composition` amount of {element!r} must be positive and "
                    f"finite, got {amount!r}."
                )
            amounts[element] = amounts.get(element, 0.0) + value
    else:
        raise ValueError(
            "`composition` must be a formula string such as 'SiO2' or a dict "
            f"of element fractions, got {type(composition).__name__} {composition!r}."
        )
    if not amounts:
        raise ValueError(f"`composition` {composition!r} contains no element.")
    total = sum(amounts.values())
    fractions = {element: value / total for element, value in amounts.items()}
    if not (np.isfinite(total) and all(v > 0 for v in fractions.values())):
        raise ValueError(
            f"`composition` {composition!r}: the amounts overflow or underflow "
            "as floating-point numbers; give relative amounts such as "
            "{'Si': 1, 'O': 2}."
        )
    return fractions


def _check_element(element, composition):
    if not isinstance(element, str) or element not in element_symbols():
        raise ValueError(
            f"unknown element {element!r} in `composition` {composition!r}: "
            "elements are symbols H to Lr with correct case, e.g. 'Si', 'O'."
        )


def _parse_formula(formula):
    stack = [{}]
    last = None  # the group a following number multiplies
    position = 0
    while position < len(formula):
        match = _TOKEN.match(formula, position)
        if match is None:
            raise ValueError(
                f"cannot parse `composition` {formula!r} at position {position} "
                f"({formula[position:]!r}): use element symbols, numbers and "
                "parentheses, e.g. 'Li10GeP2S12' or 'Ca(OH)2'."
            )
        element, number, opening, closing, _ = match.groups()
        position = match.end()
        if element is not None:
            _check_element(element, formula)
            stack[-1][element] = stack[-1].get(element, 0.0) + 1.0
            last = {element: 1.0}
        elif number is not None:
            if last is None:
                raise ValueError(
                    f"cannot parse `composition` {formula!r}: the number "
                    f"{number!r} does not follow an element or a group."
                )
            factor = float(number)
            if factor <= 0:
                raise ValueError(
                    f"`composition` {formula!r}: amounts must be positive, "
                    f"got {number!r}."
                )
            for key, value in last.items():
                stack[-1][key] += value * (factor - 1.0)
            last = None
        elif opening is not None:
            stack.append({})
            last = None
        elif closing is not None:
            if len(stack) == 1:
                raise ValueError(
                    f"cannot parse `composition` {formula!r}: unbalanced ')'."
                )
            group = stack.pop()
            for key, value in group.items():
                stack[-1][key] = stack[-1].get(key, 0.0) + value
            last = group
        # whitespace: nothing to do, and a number may not follow it
        else:
            last = None
    if len(stack) != 1:
        raise ValueError(f"cannot parse `composition` {formula!r}: unbalanced '('.")
    return stack[0]


def format_composition(fractions):
    """A readable formula of atomic fractions, e.g. ``"Si0.3333O0.6667"``."""
    return "".join(f"{el}{value:.4g}" for el, value in fractions.items())


def electron_scattering_factors(elements, q, table="lobato"):
    """Elastic electron scattering factors of neutral atoms.

    Parameters
    ----------
    elements : sequence of str
        Element symbols.
    q : array_like
        Scattering vector magnitudes ``Q = 4 pi sin(theta) / lambda`` in 1/Å.
    table : {"lobato", "kirkland", "peng"}
        Parameterisation (see the module docstring).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(elements),) + q.shape``, in Å, float64.

    Examples
    --------
    >>> f = electron_scattering_factors(["Si", "O"], np.linspace(0, 20, 5))
    >>> f.shape
    (2, 5)
    """
    _check_table(table)
    q = np.asarray(q, dtype=np.float64)
    g2 = (q / (2 * np.pi)) ** 2
    known = _table_elements(table)
    out = np.empty((len(elements),) + q.shape)
    for i, element in enumerate(elements):
        if element not in known:
            raise ValueError(
                f"unknown element {element!r} for `scattering_factors` "
                f"{table!r}: the table covers {known[0]} to {known[-1]}."
            )
        out[i] = _factor(element, g2, table)
    return out


def _factor(element, g2, table):
    if table == "lobato":
        a, b = np.asarray(_lobato_table()[element], dtype=np.float64).T
        bg = b[:, None] * g2.ravel()
        values = (a[:, None] * (2 + bg) / (1 + bg) ** 2).sum(axis=0)
    elif table == "peng":
        from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

        a, b = np.asarray(ATOMIC_SCATTERING_PARAMS[element], dtype=np.float64).T
        values = (a[:, None] * np.exp(-0.25 * b[:, None] * g2.ravel())).sum(axis=0)
    else:
        from diffsims.utils.scattering_params import scattering_params

        z = element_symbols().index(element) + 1
        p = np.asarray(scattering_params[z], dtype=np.float64)[1:]
        a, b, c, d = p[0:6:2], p[1:6:2], p[6::2], p[7::2]
        flat = g2.ravel()
        values = (a[:, None] / (flat + b[:, None])).sum(axis=0)
        values += (c[:, None] * np.exp(-d[:, None] * flat)).sum(axis=0)
    return values.reshape(g2.shape)


def scattering_moments(fractions, q, table="lobato"):
    """Composition averages ``<f>`` and ``<f^2>`` of the scattering factors.

    Parameters
    ----------
    fractions : dict
        Element -> atomic fraction (see :func:`parse_composition`).
    q : array_like
        ``Q`` in 1/Å.
    table : {"lobato", "kirkland", "peng"}

    Returns
    -------
    mean_f, mean_f2 : numpy.ndarray
        ``<f>(Q) = sum_i c_i f_i(Q)`` and ``<f^2>(Q) = sum_i c_i f_i(Q)^2``.
    """
    elements = list(fractions)
    weights = np.array([fractions[el] for el in elements])[:, None]
    factors = electron_scattering_factors(elements, q, table)
    factors = factors.reshape(len(elements), -1)
    shape = np.shape(q)
    mean_f = (weights * factors).sum(axis=0).reshape(shape)
    mean_f2 = (weights * factors**2).sum(axis=0).reshape(shape)
    return mean_f, mean_f2
