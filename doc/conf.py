"""Sphinx configuration of the sklearn-convexnn documentation.

Build (from the repository root)::

    pip install ".[docs]" && python -m sphinx -W -b html doc doc/_build/html

The pages document the *source tree* this file sits in (the repository root
is put first on ``sys.path``), not whatever copy is installed. The API
reference (``api.rst``) is generated at every build from
``sklearn_convexnn.__all__`` and the public submodules, so a new public name
gets its page without editing anything here. The gallery runs every
``examples/*.py`` with ``SKLEARN_CONVEXNN_EXAMPLES_QUICK=1`` (small sizes).
"""

import importlib
import inspect
import os
import pkgutil
import re
import sys
import urllib.request
from pathlib import Path

DOC = Path(__file__).resolve().parent
ROOT = DOC.parent
sys.path.insert(0, str(ROOT))
# The gallery runs the examples in this process: shrink them (every example
# honours this variable), unless the caller asked for full sizes.
os.environ.setdefault("SKLEARN_CONVEXNN_EXAMPLES_QUICK", "1")

import sklearn_convexnn  # noqa: E402

if not str(Path(sklearn_convexnn.__file__).resolve()).startswith(str(ROOT)):
    raise RuntimeError(
        f"documenting {sklearn_convexnn.__file__}, not the source tree under {ROOT}"
    )

project = "sklearn-convexnn"
author = "sklearn-convexnn developers"
copyright = "sklearn-convexnn developers, BSD-3-Clause"
version = release = sklearn_convexnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
root_doc = "index"
default_role = "literal"  # `x` in a docstring is code, never a broken link target
nitpicky = False

# -- autodoc / autosummary / numpydoc ---------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_member_order = "groupwise"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML -------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-convexnn {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

# -- gallery ----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # every examples/*.py is run and shown (the default pattern would only
    # run files named plot_*)
    "filename_pattern": r"/.*\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_convexnn",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 0,
}

# -- intersphinx: only for inventories we can actually read -----------------
# A failed inventory fetch is an untyped Sphinx warning (so -W turns it into
# an error) and this documentation must build offline. So each inventory is
# probed here, with a short timeout, and cached under doc/_build; a project
# whose inventory is neither cached nor reachable is simply not linked.
_INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
}


def _inventory(name, url):
    cache = DOC / "_build" / "intersphinx" / f"{name}.inv"
    if cache.exists() and cache.stat().st_size > 0:
        return str(cache)
    if os.environ.get("SKLEARN_CONVEXNN_DOCS_OFFLINE") == "1":
        return None
    try:
        with urllib.request.urlopen(url + "objects.inv", timeout=3) as response:
            data = response.read()
    except Exception:
        return None
    if not data.startswith(b"# Sphinx inventory"):
        return None
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(data)
    return str(cache)


intersphinx_mapping = {}
for _name, _url in _INTERSPHINX.items():
    _inv = _inventory(_name, _url)
    if _inv is not None:
        intersphinx_mapping[_name] = (_url, _inv)
if intersphinx_mapping:
    extensions.append("sphinx.ext.intersphinx")
print(
    "intersphinx: "
    + (", ".join(sorted(intersphinx_mapping)) or "no inventory reachable (offline); not linked")
)


# -- API reference, generated from the package -------------------------------
def _public_submodules():
    """Public submodules that hold names of their own (datasets, exceptions, ...)."""
    for info in pkgutil.iter_modules(sklearn_convexnn.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"sklearn_convexnn.{info.name}")
        names = getattr(module, "__all__", None)
        if names is None:
            names = [
                n for n, obj in vars(module).items()
                if not n.startswith("_")
                and (inspect.isclass(obj) or inspect.isfunction(obj))
                and getattr(obj, "__module__", None) == module.__name__
            ]
        yield module, list(names)


# Families in the order of the user guide; modules not listed follow, sorted.
_MODULE_ORDER = ["polynet", "quantized", "cnn", "relu", "paths", "_cv", "sketching",
                 "distributed", "coding"]


def _module_rank(modname):
    short = modname.rsplit(".", 1)[-1]
    rank = _MODULE_ORDER.index(short) if short in _MODULE_ORDER else len(_MODULE_ORDER)
    return rank, modname


def _title(module):
    doc = inspect.getdoc(module) or module.__name__
    return doc.splitlines()[0].rstrip(".")


def _autosummary(names, template):
    lines = [".. autosummary::", "   :toctree: generated", f"   :template: {template}", ""]
    lines += [f"   {name}" for name in sorted(names, key=str.lower)]
    return [*lines, ""]


def _section(title, char="-"):
    return [title, char * len(title), ""]


def _write_api_reference():
    top = list(sklearn_convexnn.__all__)
    lines = [
        ".. This file is generated by doc/conf.py at every build; do not edit.",
        "",
        ".. _api:",
        "",
        *_section("API reference", "="),
        "Every public name of ``sklearn_convexnn`` (its ``__all__``), grouped by the",
        "module that defines it, then the public submodules.",
        "",
        ".. currentmodule:: sklearn_convexnn",
        "",
    ]
    by_module = {}
    for name in top:
        obj = getattr(sklearn_convexnn, name)
        by_module.setdefault(getattr(obj, "__module__", "sklearn_convexnn"), []).append(name)
    for modname in sorted(by_module, key=_module_rank):
        module = importlib.import_module(modname)
        lines += _section(f"{_title(module)} (``{modname}``)")
        for kind, template in (("class", "class.rst"), ("function", "function.rst")):
            names = [
                n for n in by_module[modname]
                if inspect.isclass(getattr(sklearn_convexnn, n)) == (kind == "class")
            ]
            if names:
                lines += _autosummary(names, template)
    documented = {id(getattr(sklearn_convexnn, n)) for n in top}
    for module, names in _public_submodules():
        names = [n for n in names if id(getattr(module, n)) not in documented]
        if not names:
            continue
        lines += _section(f"{_title(module)} (``{module.__name__}``)")
        lines += [f".. automodule:: {module.__name__}", "   :no-members:", "",
                  f".. currentmodule:: {module.__name__}", ""]
        for kind, template in (("class", "class.rst"), ("function", "function.rst")):
            picked = [n for n in names if inspect.isclass(getattr(module, n)) == (kind == "class")]
            if picked:
                lines += _autosummary(picked, template)
    text = "\n".join(lines)
    target = DOC / "api.rst"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


_write_api_reference()


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Document what this package defines; methods inherited from scikit-learn
    (``get_params``, ``set_output``, ``set_fit_request``, ``score``, ...) are
    documented by scikit-learn, and their docstrings cross-reference labels
    that only exist in scikit-learn's own documentation."""
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn.") or module == "sklearn":
        return True
    return None


# A name ending in "_" (``n_features_in_``, ``coef_``) is a link target in
# reStructuredText, so bare in a docstring ("of shape (n_features_in_,)")
# it breaks the build. After numpydoc has rendered a docstring, such names
# outside code, doctest and literal blocks are set as literals.
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w`*.:|<])([A-Za-z_][\w.]*[A-Za-z0-9]_)(?=[\s,.;:)\]]|$)")


def _literal_trailing_underscores(app, what, name, obj, options, lines):
    in_doctest, literal_indent = False, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if in_doctest:  # a doctest block runs to the next blank line
            in_doctest = bool(stripped)
            continue
        if literal_indent is not None:  # a literal block: indented past its "::" line
            if not stripped or indent > literal_indent:
                continue
            literal_indent = None
        if stripped.startswith(">>>"):
            in_doctest = True
            continue
        if stripped.endswith("::"):
            literal_indent = indent
        if "_`" in line:
            continue  # an explicit reference written on purpose
        lines[i] = _TRAILING_UNDERSCORE.sub(r"``\1``", line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
    app.connect("autodoc-process-docstring", _literal_trailing_underscores, priority=600)
