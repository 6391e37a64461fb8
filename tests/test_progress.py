"""The progress counter printed on loops of known length."""

import re

from sklearn_convexnn._progress import Progress


def test_one_line_per_step_with_count_and_time_left(capsys):
    p = Progress(3, "Est", "fold", verbose=1)
    for k in range(3):
        p.step(f"score {k}")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for k, line in enumerate(lines, start=1):
        assert re.match(rf"\[Est\] fold {k}/3  elapsed \d+\.\d s", line), line
        assert line.endswith(f"score {k - 1}")
        # The time left is estimated while steps remain, not after the last.
        assert ("left ~" in line) == (k < 3)


def test_silent_below_verbose_one(capsys):
    p = Progress(2, "Est", "alpha", verbose=0)
    p.step()
    p.step()
    assert capsys.readouterr().out == ""
    assert p.done == 2


def test_path_and_cv_print_one_counter_line_per_alpha_and_fold(capsys):
    import numpy as np

    from sklearn_convexnn import ConvexPolyNetRegressor, ConvexPolyNetRegressorCV
    from sklearn_convexnn.paths import regularization_path

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X @ [0.6, 0.8, 0.0]) ** 2
    path = regularization_path(ConvexPolyNetRegressor(verbose=1), X, y, n_alphas=4)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "path] alpha " in ln]
    assert [ln.split()[3] for ln in lines] == ["1/4", "2/4", "3/4", "4/4"]
    # Each line reports that fit's own figures.
    assert f"{path.n_neurons[-1]} neurons" in lines[-1]
    ConvexPolyNetRegressorCV(n_alphas=3, cv=3, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    folds = [ln for ln in out.splitlines() if ln.startswith("[ConvexPolyNetRegressorCV] fold")]
    assert [ln.split()[2] for ln in folds] == ["1/3", "2/3", "3/3"]
