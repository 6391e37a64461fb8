"""ConvexCNNClassifier on digits against MLPClassifier and LogisticRegression.

Same 70/30 stratified split for every contender, two input scalings (X/16
and StandardScaler), one process, single-threaded BLAS for everyone (the
machine is shared; ratios are what count). Prints accuracy, fit time, the
fit-time ratio to the MLP and the certified relative gap of the convex
network, with the goals of issue 11 beside them:

    CNN fit time <= 5x MLP's, accuracy >= MLP's - 0.005.

The MLP and the default convex network are fitted ``--repeat`` times,
alternately, and the best wall and CPU times of each are compared (the
machine is shared: the minimum is the least disturbed run).

Extra rows (``--capacity``) fit variants (the pixels as given instead of
``input_scale="auto"``, the former alpha, a 3x3 grid of pooling regions,
the one-vs-rest squared loss) to show what the formulation can reach.

Usage::

    python benchmarks/bench_cnn.py [--capacity] [--seed 0] [--repeat 3]
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_convexnn import ConvexCNNClassifier


def timed_fit(model, X, y):
    """Wall-clock and CPU seconds of a fit (CPU time is the fairer measure on a
    shared machine: every contender runs single-threaded)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return time.perf_counter() - t0, time.process_time() - c0


def best_of(fits):
    """Best (wall, CPU) over repeated ``(model, wall, cpu)`` fits, and the last model."""
    return min(f[1] for f in fits), min(f[2] for f in fits), fits[-1][0]


def run(scaling, seed, capacity, repeat):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    if scaling == "X/16":
        Xtr, Xte = Xtr / 16, Xte / 16
    else:
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    print(f"\n== digits, input {scaling}, split seed {seed}: {Xtr.shape[0]} train / "
          f"{Xte.shape[0]} test")
    # Alternate the two timed contenders, keep each one's best run.
    mlp_fits, cnn_fits = [], []
    for _ in range(repeat):
        mlp = MLPClassifier(random_state=0)
        mlp_fits.append((mlp, *timed_fit(mlp, Xtr, ytr)))
        cnn = ConvexCNNClassifier(image_shape=(8, 8))
        cnn_fits.append((cnn, *timed_fit(cnn, Xtr, ytr)))
    t_mlp, c_mlp, mlp = best_of(mlp_fits)
    acc_mlp = mlp.score(Xte, yte)
    lr = LogisticRegression(max_iter=2000)
    t_lr, c_lr = timed_fit(lr, Xtr, ytr)
    print(f"{'model':<46} {'accuracy':>9} {'wall s':>8} {'x MLP':>7} {'cpu s':>8} "
          f"{'x MLP':>7} {'gap':>9}")
    print(f"(best of {repeat} alternated fits for the MLP and the default network)")
    print(f"{'MLPClassifier()':<46} {acc_mlp:>9.4f} {t_mlp:>8.2f} {1:>7.2f} {c_mlp:>8.2f} "
          f"{1:>7.2f}")
    print(f"{'LogisticRegression()':<46} {lr.score(Xte, yte):>9.4f} {t_lr:>8.2f} "
          f"{t_lr / t_mlp:>7.2f} {c_lr:>8.2f} {c_lr / c_mlp:>7.2f}")
    variants = [("ConvexCNNClassifier(image_shape=(8, 8))", {})]
    if capacity:
        variants += [
            ("  ... input_scale=None", {"input_scale": None}),
            ("  ... alpha=1e-3", {"alpha": 1e-3}),
            ("  ... pool_regions=(3, 3)", {"pool_regions": (3, 3)}),
            # One-vs-rest squared loss generalizes better here, but its
            # small-alpha optimum has hundreds of filters and the solver does
            # not certify it quickly yet: capped, its gap is printed.
            ("  ... loss='squared', max_iter=30", {"loss": "squared", "max_iter": 30}),
        ]
    for name, extra in variants:
        if extra:
            cnn = ConvexCNNClassifier(image_shape=(8, 8), **extra)
            t_cnn, c_cnn = timed_fit(cnn, Xtr, ytr)
        else:
            t_cnn, c_cnn, cnn = best_of(cnn_fits)
        acc = cnn.score(Xte, yte)
        gap = cnn.dual_gap_ / max(abs(cnn.objective_), 1e-12)
        print(f"{name:<46} {acc:>9.4f} {t_cnn:>8.2f} {t_cnn / t_mlp:>7.2f} {c_cnn:>8.2f} "
              f"{c_cnn / c_mlp:>7.2f} {gap:>9.1e}  [{cnn.solver_}, {cnn.n_neurons_} filters]")
        if not extra:
            print(f"   goals: fit time {t_cnn / t_mlp:.2f}x MLP wall, {c_cnn / c_mlp:.2f}x "
                  f"CPU (goal <= 5x); accuracy "
                  f"{acc:.4f} vs MLP - 0.005 = {acc_mlp - 0.005:.4f} "
                  f"({'met' if acc >= acc_mlp - 0.005 else 'NOT met'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", action="store_true",
                        help="also fit variants with more pooling regions / smaller alpha")
    parser.add_argument("--seed", type=int, default=0, help="train/test split seed")
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternate fits of the MLP and the default network, best of")
    args = parser.parse_args()
    with threadpool_limits(1):
        for scaling in ("X/16", "StandardScaler"):
            run(scaling, args.seed, args.capacity, max(args.repeat, 1))


if __name__ == "__main__":
    main()
