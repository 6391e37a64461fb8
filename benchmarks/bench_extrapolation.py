"""Small data, raw targets, points outside the training range: linnerud.

Linnerud has 20 samples and 3 raw targets (weight, waist, pulse). Under
5-fold cross-validation most test points fall outside the range of the 16
training points in some direction, where a quadratic activation grows
without bound. Prints the 5-fold R^2 of every network regressor with its
default settings (after StandardScaler) next to Ridge, with the goal
"no worse than Ridge" beside each, and the same fits with
``extrapolation="none"`` to show what the clipping buys.

Run: ``python benchmarks/bench_extrapolation.py``
"""

import warnings

from sklearn.datasets import load_linnerud
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_convexnn as scn


def main():
    X, Y = load_linnerud(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)

    def score(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cross_val_score(make_pipeline(StandardScaler(), model), X, Y, cv=cv).mean()

    ridge = score(Ridge())
    print("linnerud (n=20, 3 raw targets), 5-fold R^2 after StandardScaler")
    print(f"  {'Ridge()':<44} {ridge:8.3f}")
    print(f"  {'RidgeCV()':<44} {score(RidgeCV()):8.3f}")
    models = [("ConvexPolyNetRegressor", {}), ("QuantizedSDPRegressor", {"random_state": 0}),
              ("ConvexReLURegressor", {"random_state": 0})]
    for name, params in models:
        cls = getattr(scn, name, None)
        if cls is None:
            continue
        r2 = score(cls(**params))
        verdict = "met" if r2 >= ridge else "NOT met"
        print(f"  {name + '() (defaults)':<44} {r2:8.3f}   goal >= Ridge {ridge:.3f}: {verdict}")
        if "extrapolation" in cls().get_params():
            free = score(cls(extrapolation="none", **params))
            label = name + "(extrapolation='none')"
            print(f"  {label:<44} {free:8.3f}")


if __name__ == "__main__":
    main()
