"""numpydoc validation of the lifted-model estimators' docstrings."""

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

CLASSES = [
    "ConvexPolyNetRegressor",
    "ConvexPolyNetClassifier",
    "ConvexCNNRegressor",
    "ConvexCNNClassifier",
    "ReLURelaxationCNNRegressor",
]
# Checks not enforced (as in scikit-learn's test_docstrings): extended
# summaries, "See Also" on methods, examples on methods, return names.
IGNORED = {"GL08", "SA01", "SA04", "ES01", "EX01", "RT02", "GL02", "SS05", "PR02", "YD01"}


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("member", ["", ".fit", ".predict"])
def test_docstring_is_valid_numpydoc(name, member):
    result = numpydoc_validate.validate(f"sklearn_convexnn.{name}{member}")
    errors = [(code, msg) for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, errors


@pytest.mark.parametrize("name", CLASSES)
def test_class_cites_its_seed_paper_and_siblings(name):
    import sklearn_convexnn

    doc = getattr(sklearn_convexnn, name).__doc__
    assert "References" in doc and "Bartan and M. Pilanci" in doc
    assert "See Also" in doc
