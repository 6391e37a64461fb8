"""Sphinx configuration: ``pip install ".[docs]" && sphinx-build doc doc/_build``."""

project = "sklearn-convexnn"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
