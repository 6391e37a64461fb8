"""
Convex ReLU network vs gradient training
========================================

A two-layer ReLU network with weight decay,

    (1/2n) ||sum_m a_m relu(X h_m) + b - y||^2 + (alpha/2) sum_m (||h_m||^2 + a_m^2),

is trained here three ways at the same width:

* :class:`~sklearn_convexnn.ConvexReLURegressor` (``variant="exact"``): the
  convex program over sampled activation patterns, solved to a certified
  duality gap; its recovered network has exactly this objective;
* a plain full-batch gradient trainer (written below) from several random
  starts, on the same objective;
* scikit-learn's :class:`~sklearn.neural_network.MLPRegressor` with the
  matching L2 penalty (it also has hidden biases).

The convex fit is one deterministic solve with a certificate: no network
using only the sampled activation patterns has a lower objective than its
``lower_bound_``. Gradient training is not limited to those patterns, so it
can land below that bound when the sample of patterns misses ones it
needs (few gates for the dimension); more gates close that gap, at the
price of a larger convex program. The printed numbers show which case this
data set is in.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor

from sklearn_convexnn import ConvexReLURegressor

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"
rng = np.random.default_rng(0)
n, d = (120, 3) if QUICK else (300, 4)
X = rng.standard_normal((2 * n, d))
y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ [1.0, -1.0, 0.7]
y += 0.1 * rng.standard_normal(2 * n)
Xtr, ytr, Xte, yte = X[:n], y[:n], X[n:], y[n:]
alpha = 1e-2


def objective(pred, h, a):
    return 0.5 * np.mean((pred - ytr) ** 2) + 0.5 * alpha * (np.sum(h**2) + np.sum(a**2))


# %%
# Convex fit
convex = ConvexReLURegressor(alpha=alpha, n_gates=60 if QUICK else 200, variant="exact",
                             tol=1e-3, random_state=0).fit(Xtr, ytr)
width = convex.n_neurons_
print(f"convex: {width} neurons, objective {convex.objective_:.5f} "
      f"(certified lower bound {convex.lower_bound_:.5f}), "
      f"test R^2 {convex.score(Xte, yte):.3f}")


# %%
# Gradient training of the same network (full batch, Adam), several starts
def train_gd(seed, steps=1500 if QUICK else 5000, lr=1e-2):
    r = np.random.default_rng(seed)
    H = r.standard_normal((width, d)) / np.sqrt(d)
    a = r.standard_normal(width) / np.sqrt(width)
    b = 0.0
    params = [H, a, np.array([b])]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        H, a, bb = params
        pre = Xtr @ H.T
        act = np.maximum(pre, 0)
        res = (act @ a + bb[0] - ytr) / n
        ga = act.T @ res + alpha * a
        gH = ((res[:, None] * a) * (pre > 0)).T @ Xtr + alpha * H
        grads = [gH, ga, np.array([res.sum()])]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g**2
            params[i] = params[i] - lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t))
                                                                  + 1e-8)
    H, a, bb = params
    predict = lambda Z: np.maximum(Z @ H.T, 0) @ a + bb[0]  # noqa: E731
    return objective(predict(Xtr), H, a), r2_score(yte, predict(Xte))


gd = [train_gd(s) for s in range(3 if QUICK else 6)]
for s, (obj, r2) in enumerate(gd):
    print(f"gradient start {s}: objective {obj:.5f}, test R^2 {r2:.3f}")

# %%
# scikit-learn's MLP at the same width; its penalty is alpha_mlp/(2n) ||W||^2
mlp_obj, mlp_r2 = [], []
for s in range(2 if QUICK else 4):
    mlp = MLPRegressor(hidden_layer_sizes=(width,), alpha=alpha * n, max_iter=3000,
                       random_state=s).fit(Xtr, ytr)
    W1, W2 = mlp.coefs_
    mlp_obj.append(objective(mlp.predict(Xtr), W1, W2))
    mlp_r2.append(mlp.score(Xte, yte))
    print(f"MLPRegressor start {s}: objective {mlp_obj[-1]:.5f}, test R^2 {mlp_r2[-1]:.3f}")

# %%
# Plot
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
labels = ["convex"] + [f"GD {s}" for s in range(len(gd))] + \
    [f"MLP {s}" for s in range(len(mlp_obj))]
objs = [convex.objective_] + [o for o, _ in gd] + mlp_obj
r2s = [convex.score(Xte, yte)] + [r for _, r in gd] + mlp_r2
colors = ["C0"] + ["C1"] * len(gd) + ["C2"] * len(mlp_obj)
axes[0].bar(labels, objs, color=colors)
axes[0].axhline(convex.lower_bound_, color="k", ls="--", lw=1, label="certified bound")
axes[0].set_ylabel("training objective")
axes[0].legend()
axes[1].bar(labels, r2s, color=colors)
axes[1].set_ylabel("test $R^2$")
for ax in axes:
    ax.tick_params(axis="x", rotation=60)
fig.tight_layout()
fig.savefig("plot_convex_relu.png")
