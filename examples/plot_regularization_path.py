"""
Regularization path of a globally optimal network
=================================================

Every network of :class:`sklearn_convexnn.ConvexPolyNetRegressor` is the
global optimum of a convex program, so the whole family indexed by the
regularization strength ``alpha`` can be traced like a lasso path. The top
of the path is ``alpha_max``, the smallest ``alpha`` at which the network
with no neuron is optimal; it comes from the optimality condition at the
empty network (one eigendecomposition), and it follows the scale of the
target, so the grid below it suits raw targets as well as standardized
ones.

Along the path we plot the training objective, the certified relative
duality gap (how far each network can be from the best network of any
width), the width (number of neurons), and the 5-fold cross-validated
:math:`R^2` that :class:`sklearn_convexnn.ConvexPolyNetRegressorCV` uses to
pick ``alpha``. Data: scikit-learn's diabetes set, standardized features,
raw target.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import ConvexPolyNetRegressor, ConvexPolyNetRegressorCV
from sklearn_convexnn.paths import alpha_max, polynet_path

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"

X, y = load_diabetes(return_X_y=True)
if QUICK:
    X, y = X[:120], y[:120]
X = StandardScaler().fit_transform(X)
n_alphas = 6 if QUICK else 20

top = alpha_max(ConvexPolyNetRegressor(), X, y)
print(f"alpha_max = {top:.4g} (raw target, variance {y.var():.4g})")

# %%
# The path: each network is fitted at one alpha of the log grid from
# alpha_max down to 1e-3 alpha_max (warm-started where the solver can).
path = polynet_path(X, y, n_alphas=n_alphas, eps=1e-3)
for a, obj, gap, width in zip(path.alphas, path.objective, path.relative_gap,
                              path.n_neurons):
    print(f"alpha {a:9.4g}  objective {obj:10.6g}  certified gap {gap:8.1e}  "
          f"width {width:2d}")

# %%
# Cross-validated score along the same grid.
cv = ConvexPolyNetRegressorCV(alphas=path.alphas, cv=3 if QUICK else 5).fit(X, y)
mean, std = cv.cv_results_["mean_test_score"], cv.cv_results_["std_test_score"]
print(f"chosen alpha_ = {cv.alpha_:.4g} (alpha_max / {top / cv.alpha_:.3g}), "
      f"CV R^2 {cv.best_score_:.3f}, {cv.n_neurons_} neurons")

fig, axes = plt.subplots(4, 1, figsize=(6, 9), sharex=True)
axes[0].plot(path.alphas, path.objective, "o-")
axes[0].set_ylabel("training objective")
axes[1].semilogy(path.alphas, np.maximum(path.relative_gap, 1e-16), "o-")
axes[1].set_ylabel("certified relative gap")
axes[2].step(path.alphas, path.n_neurons, where="mid")
axes[2].set_ylabel("width (neurons)")
axes[3].errorbar(cv.alphas_, mean, yerr=std, fmt="o-", capsize=3)
axes[3].axvline(cv.alpha_, color="k", ls="--", label=r"chosen $\alpha$")
axes[3].set_ylabel(r"CV $R^2$")
axes[3].legend()
for ax in axes:
    ax.set_xscale("log")
    ax.axvline(top, color="grey", ls=":")
axes[-1].set_xlabel(r"$\alpha$ (dotted: $\alpha_{max}$)")
axes[0].set_title("Regularization path on diabetes")
fig.tight_layout()
fig.savefig("regularization_path.png", dpi=100)
plt.show()
