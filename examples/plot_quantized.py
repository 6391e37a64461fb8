"""Binary-weight networks: SDP relaxation + rounding against post-training quantization.

For planted networks with first-layer weights in {-1, +1}^d and several
input sizes d, compare on the same training objective
``(1/2n)||f(X) - y||^2 + alpha * sum |w_j|`` over binary networks:

* ``QuantizedSDPRegressor``: the SDP relaxation, randomized rounding, and a
  convex refit of the output layer;
* its certified ``lower_bound_`` (no binary network of any width does better);
* the true quantized optimum by brute force (a lasso over all 2^d sign
  neurons), where d <= 10;
* post-training quantization (PTQ): fit the continuous
  ``ConvexPolyNetRegressor``, take the sign of its neurons, refit the output
  layer by the same convex problem.

Prints a table and saves ``plot_quantized.png``. Run:
``python examples/plot_quantized.py``.
"""

import itertools
import time

import matplotlib.pyplot as plt
import numpy as np

from sklearn_convexnn import ConvexPolyNetRegressor, QuantizedSDPRegressor
from sklearn_convexnn._solvers.lifted.lifted import ACTIVATIONS
from sklearn_convexnn._solvers.lifted.rounding import refit_output_layer
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.datasets import make_planted_quantized

ALPHA = 1e-2
ACT = ACTIVATIONS["relu-approx"]
SQUARED = get_loss("squared")


def activations(X, U):
    a, b, c = ACT
    T = X @ U.T
    return a * T**2 + b * T + c


def refit(X, y, U):
    """Best output layer over the sign neurons U; returns (U kept, w, b, objective)."""
    res = refit_output_layer(activations(X, U), y[:, None], SQUARED, ALPHA)
    return U[res.support], res.weights[:, 0], res.intercept[0], res.value


def post_training_quantization(X, y):
    cont = ConvexPolyNetRegressor(alpha=ALPHA).fit(X, y)
    U = np.unique(np.where(cont.hidden_weights_ >= 0, 1.0, -1.0), axis=0)
    return refit(X, y, U)


def brute_force(X, y):
    U = np.array(list(itertools.product([-1.0, 1.0], repeat=X.shape[1])))
    return refit(X, y, U)[3]


def test_mse(U, w, b, X, y):
    return float(np.mean((activations(X, U) @ w + b - y) ** 2))


def main():
    plt.switch_backend("Agg")
    dims = [4, 6, 8, 10, 15, 20]
    rows = []
    for d in dims:
        X, y = make_planted_quantized(600, d, n_neurons=3, noise=0.05, random_state=d)
        Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
        t0 = time.perf_counter()
        model = QuantizedSDPRegressor(alpha=ALPHA, random_state=0).fit(Xtr, ytr)
        seconds = time.perf_counter() - t0
        ptq = post_training_quantization(Xtr, ytr)
        rows.append({
            "d": d,
            "bound": model.lower_bound_,
            "sdp": model.objective_,
            "brute": brute_force(Xtr, ytr) if d <= 10 else np.nan,
            "ptq": ptq[3],
            "sdp_test": float(np.mean((model.predict(Xte) - yte) ** 2)),
            "ptq_test": test_mse(*ptq[:3], Xte, yte),
            "gap": model.optimality_gap_,
            "neurons": model.n_neurons_,
            "seconds": seconds,
        })

    head = (f"{'d':>3} {'lower bound':>12} {'SDP+round':>11} {'brute force':>12} {'PTQ':>10} "
            f"{'gap':>7} {'PTQ/SDP':>8} {'test SDP':>9} {'test PTQ':>9} {'neurons':>8} "
            f"{'fit s':>6}")
    print("Training objective (1/2n)||f - y||^2 + alpha |w|_1 over binary networks, "
          f"alpha={ALPHA}; test = held-out MSE (noise variance 0.0025)")
    print(head)
    for r in rows:
        print(f"{r['d']:>3} {r['bound']:>12.5f} {r['sdp']:>11.5f} {r['brute']:>12.5f} "
              f"{r['ptq']:>10.5f} {r['gap']:>7.2%} {r['ptq'] / r['sdp']:>8.2f} "
              f"{r['sdp_test']:>9.5f} {r['ptq_test']:>9.5f} {r['neurons']:>8d} "
              f"{r['seconds']:>6.1f}")

    d = [r["d"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(d, [r["ptq"] for r in rows], "s-", label="post-training quantization")
    ax1.plot(d, [r["sdp"] for r in rows], "o-", label="SDP + rounding (QuantizedSDPRegressor)")
    ax1.plot(d, [r["brute"] for r in rows], "k*", ms=10, label="brute-force optimum")
    ax1.plot(d, [r["bound"] for r in rows], "v--", label="certified lower bound (SDP)")
    ax1.set_yscale("log")
    ax1.set_xlabel("input dimension d")
    ax1.set_ylabel("training objective")
    ax1.set_title("Binary first layer: objective")
    ax1.legend(fontsize=8)
    ax2.plot(d, [r["ptq_test"] for r in rows], "s-", label="post-training quantization")
    ax2.plot(d, [r["sdp_test"] for r in rows], "o-", label="SDP + rounding")
    ax2.axhline(0.05**2, color="gray", ls=":", label="noise level")
    ax2.set_yscale("log")
    ax2.set_xlabel("input dimension d")
    ax2.set_ylabel("test MSE")
    ax2.set_title("Held-out error")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("plot_quantized.png", dpi=120)
    print("saved plot_quantized.png")


if __name__ == "__main__":
    main()
