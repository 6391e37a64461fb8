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
