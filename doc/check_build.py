"""Check a finished HTML build: every public name has its API page and every
example its gallery page with at least one figure; every example honours
``SKLEARN_CONVEXNN_EXAMPLES_QUICK`` and imports no private module.

Run after ``python -m sphinx -W -b html doc doc/_build/html`` (``.ci/run``
does)::

    python doc/check_build.py doc/_build/html
"""

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent
sys.path.insert(0, str(DOC.parent))


def main(html):
    html = Path(html)
    import conf  # the names conf.py documents, from the same source tree

    problems = []
    names = [f"sklearn_convexnn.{n}" for n in conf.sklearn_convexnn.__all__]
    for module, public in conf._public_submodules():
        names += [f"{module.__name__}.{n}" for n in public]
    documented = {f"sklearn_convexnn.{n}" for n in conf.sklearn_convexnn.__all__}
    for name in names:
        short = name.rsplit(".", 1)[1]
        candidates = [name] + [f"sklearn_convexnn.{short}"] * (
            f"sklearn_convexnn.{short}" in documented)
        if not any((html / "generated" / f"{c}.html").exists() for c in candidates):
            problems.append(f"no API page for {name}")
    examples = sorted((DOC.parent / "examples").glob("*.py"))
    for example in examples:
        page = html / "auto_examples" / f"{example.stem}.html"
        if not page.exists():
            problems.append(f"no gallery page for {example.name}")
        elif f"sphx_glr_{example.stem}_001.png" not in page.read_text():
            problems.append(f"gallery page of {example.name} has no figure")
        source = example.read_text()
        if "SKLEARN_CONVEXNN_EXAMPLES_QUICK" not in source:
            problems.append(f"{example.name} ignores SKLEARN_CONVEXNN_EXAMPLES_QUICK")
        if re.search(r"^\s*(from|import)\s+sklearn_convexnn(\.\w+)*\._", source, re.M):
            problems.append(f"{example.name} imports a private module")
    for problem in problems:
        print(problem)
    print(f"checked {len(names)} public names and {len(examples)} examples: "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(DOC))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else DOC / "_build" / "html"))
