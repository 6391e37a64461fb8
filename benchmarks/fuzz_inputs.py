"""Bad and extreme inputs over every public estimator: how does each end?

Each (estimator, input) case ends in one of:

* ``clear``   -- a ValueError / TypeError / MemoryError subclass whose message
  names the problem (raised by this package or scikit-learn's validation);
* ``unclear`` -- any other exception, or one raised from inside a third-party
  solver or numpy without a message of ours;
* ``silent``  -- the fit succeeded where it should have been refused, its
  predictions are not finite, or it fits its own training data worse than
  a constant (R^2 < 0, accuracy below the majority class);
* ``ok``      -- an input that is legitimate and fitted correctly (finite
  predictions);
* ``crash``   -- the interpreter died (native abort, out of memory, timeout).

Every estimator runs in its own subprocess with an address-space cap, so a
native abort is counted instead of killing the run. Point ``--src`` at
another checkout to compare (e.g. the code before a change).

Run: ``python benchmarks/fuzz_inputs.py [--src PATH]``
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap

CASES = {
    # name: (builder source, legitimate?)
    "nan": ("X[0, 0] = np.nan", False),
    "inf": ("X[1, 1] = np.inf", False),
    "empty": ("X, y = X[:0], y[:0]", False),
    "one row": ("X, y = X[:1], y[:1]", None),
    "1-d X": ("X = X[:, 0]", False),
    "wrong y length": ("y = y[:-1]", False),
    "complex": ("X = X.astype(complex)", False),
    "strings": ("X = X.astype(str).astype(object); X[0, 0] = 'a'", False),
    "nan y": ("y = y.astype(float); y[0] = np.nan", False),
    "X * 1e150": ("X = X * 1e150", None),
    "X * 1e-150": ("X = X * 1e-150", None),
    "y * 1e-150 (regression)": ("y = y * 1e-150 if REG else y", None),
    "duplicated rows x 1e8": ("X = np.vstack([X, X]) * 1e8; y = np.concatenate([y, y])", None),
    "constant column": ("X[:, 0] = 3.0", True),
    "duplicated column": ("X[:, 1] = X[:, 0]", True),
}

CHILD = textwrap.dedent('''
    import json, sys, warnings, traceback
    import numpy as np
    import sklearn_convexnn as scn
    name, cases = sys.argv[1], json.loads(sys.argv[2])
    cls = getattr(scn, name)
    extra = {"image_shape": (3, 3)} if "CNN" in name else {}
    if "Sketch" in name:
        extra = {"n_components": 2}
    out = {}
    for label, (code, legit) in cases.items():
        if "Sketch" in name and " y" in label:
            continue  # transformers take no target
        rng = np.random.default_rng(0)
        X = rng.standard_normal((30, 9))
        REG = not name.endswith(("Classifier", "ClassifierCV"))
        y = X[:, 0] ** 2 + X[:, 1] if REG else (X[:, 0] > 0).astype(int)
        try:
            exec(code)
            est = cls(**extra)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y) if not "Sketch" in name else est.fit(X)
                P = est.transform(X) if "Sketch" in name else est.predict(X)
            finite = np.all(np.isfinite(np.asarray(P, dtype=float))) if REG or "Sketch" in name \\
                else True
            # A fitted network must do at least as well as the constant it
            # contains on its own training data (R^2 >= 0, accuracy >= the
            # majority class): anything less is a silently wrong model.
            worse = False
            if "Sketch" not in name and finite:
                if REG:
                    worse = est.score(X, y) < -1e-6
                else:
                    worse = est.score(X, y) < np.bincount(y).max() / len(y) - 1e-9
            if legit is False or not finite or worse:
                out[label] = "silent"
            else:
                out[label] = "ok"
        except (ValueError, TypeError, MemoryError) as exc:
            tb = traceback.extract_tb(exc.__traceback__)
            ours = any("sklearn_convexnn" in f.filename or "/sklearn/" in f.filename
                       for f in tb[-1:])
            out[label] = "clear" if str(exc) and ours else "unclear"
        except Exception:
            out[label] = "unclear"
        print("@@" + json.dumps([label, out[label]]), flush=True)
''')

NAMES = [
    "ConvexPolyNetRegressor", "ConvexPolyNetClassifier", "QuantizedSDPRegressor",
    "QuantizedSDPClassifier", "ConvexCNNRegressor", "ConvexCNNClassifier",
    "ConvexReLURegressor", "ConvexReLUClassifier", "DebiasedAveragingRegressor",
    "DebiasedAveragingClassifier", "GaussianSketch", "SRHTSketch", "CountSketch",
    "LeverageScoreSketch",
]


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def run(src, timeout=180):
    env = dict(os.environ, PYTHONPATH=src)
    table = {}
    for name in NAMES:
        # cwd=src too: "python -c" puts the working directory first on sys.path.
        check = subprocess.run([sys.executable, "-c", f"import sklearn_convexnn as s; s.{name}"],
                               env=env, capture_output=True, cwd=src)
        if check.returncode:
            continue
        done = {}
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(CASES)],
                                  env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=_cap, cwd=src)
            lines = proc.stdout.splitlines()
        except subprocess.TimeoutExpired as exc:
            lines = (exc.stdout or b"").decode().splitlines()
        for line in lines:
            if not line.startswith("@@"):
                continue  # anything an estimator printed
            label, verdict = json.loads(line[2:])
            done[label] = verdict
        for label in CASES:
            if not ("Sketch" in name and " y" in label):
                done.setdefault(label, "crash")
        table[name] = done
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), help="checkout whose sklearn_convexnn to test")
    args = parser.parse_args()
    table = run(args.src)
    kinds = ["ok", "clear", "unclear", "silent", "crash"]
    totals = dict.fromkeys(kinds, 0)
    print(f"{'estimator':<30}" + "".join(f"{k:>9}" for k in kinds))
    for name, row in table.items():
        counts = [sum(v == k for v in row.values()) for k in kinds]
        for k, c in zip(kinds, counts):
            totals[k] += c
        print(f"{name:<30}" + "".join(f"{c:>9}" for c in counts))
        bad = [f"{lab}: {v}" for lab, v in row.items() if v in ("unclear", "silent", "crash")]
        if bad:
            print("    " + "; ".join(bad))
    print(f"{'total (' + str(sum(totals.values())) + ' cases)':<30}"
          + "".join(f"{totals[k]:>9}" for k in kinds))


if __name__ == "__main__":
    main()
