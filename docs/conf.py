"""Sphinx configuration of the hyperspy-rnmf documentation."""

project = "hyperspy-rnmf"
author = "hyperspy-rnmf developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
]
intersphinx_mapping = {
    "hyperspy": ("https://hyperspy.org/hyperspy-doc/current/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
}
html_theme = "alabaster"
exclude_patterns = ["_build"]
