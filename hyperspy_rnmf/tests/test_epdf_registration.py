"""Every ePDF signal class is registered with HyperSpy, eager and lazy.

As in lumispy's ``test_signal_registration.py``: build a plain signal, set the
signal type (by name and by alias) and check the class that comes back. The
registry is read from ``hyperspy_extension.yaml`` at ``import hyperspy.api``.
"""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf.signals import epdf

REGISTERED = [
    ("electron_pdf_intensity", "ePDF", epdf.ePDFSignal1D, epdf.LazyePDFSignal1D),
    (
        "electron_structure_factor",
        "eSQ",
        epdf.ePDFStructureFactor1D,
        epdf.LazyePDFStructureFactor1D,
    ),
    (
        "electron_reduced_structure_function",
        "eFQ",
        epdf.ePDFReducedStructureFunction1D,
        epdf.LazyePDFReducedStructureFunction1D,
    ),
    ("electron_reduced_pdf", "eGr", epdf.ePDFReducedPDF1D, epdf.LazyePDFReducedPDF1D),
]


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("signal_type, alias, eager_class, lazy_class", REGISTERED)
def test_set_signal_type(signal_type, alias, eager_class, lazy_class, lazy):
    expected = lazy_class if lazy else eager_class
    for name in (signal_type, alias):
        s = hs.signals.Signal1D(np.zeros((2, 10)))
        if lazy:
            s = s.as_lazy()
        s.set_signal_type(name)
        assert type(s) is expected
        assert s.metadata.Signal.signal_type == name  # HyperSpy keeps the alias
    assert expected._signal_type == signal_type


def test_names_do_not_clash_with_pyxem():
    import yaml

    from hyperspy_rnmf import __file__ as package

    with open(package.replace("__init__.py", "hyperspy_extension.yaml")) as f:
        signals = yaml.safe_load(f)["signals"]
    names = {e["signal_type"] for e in signals.values()}
    names |= {a for e in signals.values() for a in e.get("signal_type_aliases", [])}
    assert not names & {"pair_distribution_function", "reduced_intensity", "PDF"}
    assert {e["lazy"] for e in signals.values()} == {False, True}
    assert len(signals) == 2 * len(REGISTERED)
