"""The README's test command prints pytest's summary line ("N passed").

setup.cfg's addopts and the README's flags add up: a second ``-q`` in one of
them hides the summary (in CI too). Run the README's command as written on one
small test and parse what it prints.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    line = next(ln for ln in block.splitlines() if "pytest" in ln)
    return shlex.split(line.split("&&")[-1].strip())


def test_readme_test_command_prints_summary():
    cmd = _readme_test_command()
    assert cmd[:3] == ["python", "-m", "pytest"]
    target = "tests/test_losses.py::test_zero_weight_equals_removal"
    out = subprocess.run(
        [sys.executable, *cmd[1:], "-p", "no:cacheprovider", target],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^\s*1 passed\b", out.stdout, re.M), out.stdout


def test_ci_runs_the_readme_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert " ".join(_readme_test_command()) in ci
