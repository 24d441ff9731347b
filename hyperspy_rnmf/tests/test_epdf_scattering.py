"""Electron scattering factors and compositions (hyperspy_rnmf._scattering)."""

import numpy as np
import pytest

from hyperspy_rnmf._scattering import (
    electron_scattering_factors,
    format_composition,
    parse_composition,
    scattering_moments,
)


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("SiO2", {"Si": 1 / 3, "O": 2 / 3}),
        ("Li10GeP2S12", {"Li": 10 / 25, "Ge": 1 / 25, "P": 2 / 25, "S": 12 / 25}),
        ("Ca(OH)2", {"Ca": 1 / 5, "O": 2 / 5, "H": 2 / 5}),
        ("Si0.25O0.75", {"Si": 0.25, "O": 0.75}),
        ("Ni", {"Ni": 1.0}),
        ("CO", {"C": 0.5, "O": 0.5}),
        ("Co", {"Co": 1.0}),
        ("H2O H2O", {"H": 2 / 3, "O": 1 / 3}),
    ],
)
def test_parse_formula(formula, expected):
    fractions = parse_composition(formula)
    assert list(fractions) == list(expected)
    np.testing.assert_allclose(list(fractions.values()), list(expected.values()))


def test_parse_dict_normalises_and_is_not_modified():
    composition = {"Si": 1, "O": 2}
    fractions = parse_composition(composition)
    np.testing.assert_allclose([fractions["Si"], fractions["O"]], [1 / 3, 2 / 3])
    assert composition == {"Si": 1, "O": 2}
    assert format_composition(fractions) == "Si0.3333O0.6667"


@pytest.mark.parametrize(
    "composition, match",
    [
        (None, "`composition` is required"),
        ("", "contains no element"),
        ("sio2", "cannot parse `composition` 'sio2' at position 0"),
        ("XxO2", "unknown element 'Xx'"),
        ("Si(O2", "unbalanced '\\('"),
        ("SiO2)", "unbalanced '\\)'"),
        ("2SiO", "does not follow an element"),
        ("Si0O", "amounts must be positive"),
        ("Si-O", "cannot parse `composition` 'Si-O' at position 2"),
        ({"Si": -1, "O": 2}, "amount of 'Si' must be positive"),
        ({"Si": "a"}, "amount of 'Si' must be a number"),
        ({"Qq": 1}, "unknown element 'Qq'"),
        (12, "must be a formula string"),
    ],
)
def test_parse_errors(composition, match):
    with pytest.raises(ValueError, match=match):
        parse_composition(composition)


def test_lobato_factors_equal_diffsims():
    from diffsims.utils.lobato_scattering_params import ATOMIC_SCATTERING_PARAMS_LOBATO
    from diffsims.utils.sim_utils import get_atomic_scattering_factors

    q = np.linspace(0, 30, 61)
    elements = ["Li", "O", "Si", "P", "S", "Ge", "Ni"]
    ours = electron_scattering_factors(elements, q, "lobato")
    coeffs = np.array([ATOMIC_SCATTERING_PARAMS_LOBATO[e] for e in elements])
    g2 = (q / (2 * np.pi)) ** 2  # diffsims takes |g|^2 with g = 1/d
    theirs = get_atomic_scattering_factors(g2, coeffs, "lobato").T
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_peng_factors_equal_diffsims_xtables():
    from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS
    from diffsims.utils.sim_utils import get_atomic_scattering_factors

    q = np.linspace(0, 25, 26)
    elements = ["O", "Si", "Ni"]
    coeffs = np.array([ATOMIC_SCATTERING_PARAMS[e] for e in elements])
    theirs = get_atomic_scattering_factors((q / (2 * np.pi)) ** 2, coeffs, "xtables").T
    np.testing.assert_allclose(electron_scattering_factors(elements, q, "peng"), theirs)


def test_tables_agree_with_each_other():
    # the three parameterisations fit the same Hartree-Fock factors
    q = np.linspace(0, 12, 25)
    lobato = electron_scattering_factors(["O", "Si", "Ni"], q, "lobato")
    for table in ("kirkland", "peng"):
        other = electron_scattering_factors(["O", "Si", "Ni"], q, table)
        np.testing.assert_allclose(other, lobato, rtol=0.03)
    # Kirkland, Si at g = 1/d = 0.5 1/Å: value from the table's own formula
    np.testing.assert_allclose(
        electron_scattering_factors(["Si"], [np.pi], "kirkland")[0, 0],
        1.9658,
        atol=1e-3,
    )


def test_factors_shape_and_input_not_modified():
    q = np.linspace(0, 10, 12).reshape(3, 4)
    before = q.copy()
    f = electron_scattering_factors(["O", "Si"], q)
    assert f.shape == (2, 3, 4)
    np.testing.assert_array_equal(q, before)


def test_moments():
    q = np.linspace(0, 20, 9)
    fractions = parse_composition("SiO2")
    f1, f2 = scattering_moments(fractions, q)
    f_si, f_o = electron_scattering_factors(["Si", "O"], q)
    np.testing.assert_allclose(f1, (f_si + 2 * f_o) / 3)
    np.testing.assert_allclose(f2, (f_si**2 + 2 * f_o**2) / 3)
    assert np.all(f2 >= f1**2)  # Cauchy-Schwarz: the Laue term is non-negative


@pytest.mark.parametrize(
    "elements, table, match",
    [
        (["Si"], "xray", "`scattering_factors` must be one of"),
        (["Es"], "peng", "unknown element 'Es' for `scattering_factors` 'peng'"),
        (["Xx"], "lobato", "unknown element 'Xx'"),
    ],
)
def test_factor_errors(elements, table, match):
    with pytest.raises(ValueError, match=match):
        electron_scattering_factors(elements, [1.0], table)
