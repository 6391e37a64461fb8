"""The showcase runs and prints a row per model."""

from sklearn_convexnn.__main__ import ROWS, main


def test_showcase_rows_run(capsys):
    main(["--quick", "--only", "diabetes"])
    out = capsys.readouterr().out
    expected = [label for data, _, _, label, *_ in ROWS if data == "diabetes"]
    for label in expected:
        line = next(row for row in out.splitlines() if label in row)
        assert "not available" not in line
    assert "ConvexPolyNetRegressor" in out
