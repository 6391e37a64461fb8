"""Phase transition of the convex ReLU-CNN relaxation.

A one-filter ReLU CNN ``y = mean_k relu(w . P_k x)`` is planted on Gaussian
images made of a 3 x 3 grid of non-overlapping patches. The relaxation
(``ConvexCNNRegressor(formulation="relu-relaxation")``) maximizes an anchor
over the filters that do not overshoot any target, an LP. We count how often
it returns the planted filter exactly (relative error < 1e-4) as the number
of samples per filter weight, ``n / patch_size``, grows, for several patch
sizes and two anchors:

* "auto": the Stein anchor of the package (least-squares slope of y on the
  pooled patch vector);
* "raw": ``sum_i y_i sum_k a_k P_k x_i`` (the plain correlation, which also
  points at the filter in expectation for non-overlapping patches).

Run ``python examples/plot_cnn_phase_transition.py [--trials 10]``; it
prints the table and saves ``cnn_phase_transition.png``.
"""

import argparse
import time

import numpy as np

from sklearn_convexnn import ConvexCNNRegressor
from sklearn_convexnn._solvers.lifted.patches import (
    extract_patches,
    patch_geometry,
    pooling_matrices,
)
from sklearn_convexnn.datasets import make_planted_cnn
from sklearn_convexnn.exceptions import RelaxationUnboundedError

PATCHES = [(2, 2), (3, 3), (4, 4)]
RATIOS = [1, 1.5, 2, 3, 4, 6, 8, 10, 14]
ANCHORS = ["auto", "raw"]


def recovered(patch, ratio, seed, anchor):
    """True when the relaxation returns the planted filter."""
    image = (3 * patch[0], 3 * patch[1])
    p = patch[0] * patch[1]
    n = round(ratio * p)
    X, y, (U, _) = make_planted_cnn(n, image, patch, stride=patch, random_state=seed,
                                    return_network=True)
    if anchor == "raw":
        g = patch_geometry(X.shape[1], image, patch, patch, (1, 1))
        anchor = np.asarray(pooling_matrices(n, g)[0] @ extract_patches(X, g)).T @ y
    reg = ConvexCNNRegressor(image_shape=image, patch_shape=patch, stride=patch,
                             pool_regions=(1, 1), formulation="relu-relaxation",
                             anchor=anchor)
    try:
        reg.fit(X, y)
    except RelaxationUnboundedError:
        return False
    return np.linalg.norm(reg.filters_[0] - U[0]) < 1e-4 * np.linalg.norm(U[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--output", default="cnn_phase_transition.png")
    args = parser.parse_args()

    start = time.perf_counter()
    prob = {a: np.zeros((len(PATCHES), len(RATIOS))) for a in ANCHORS}
    for anchor in ANCHORS:
        for i, patch in enumerate(PATCHES):
            for j, ratio in enumerate(RATIOS):
                prob[anchor][i, j] = np.mean(
                    [recovered(patch, ratio, seed, anchor) for seed in range(args.trials)]
                )

    print(f"Probability of exact recovery ({args.trials} trials per cell; "
          f"3x3 grid of non-overlapping patches, average pooling)")
    header = "anchor  patch  p  | " + " ".join(f"n/p={r:<4g}" for r in RATIOS)
    print(header)
    print("-" * len(header))
    for anchor in ANCHORS:
        for i, patch in enumerate(PATCHES):
            row = " ".join(f"{v:8.2f}" for v in prob[anchor][i])
            print(f"{anchor:6s}  {patch[0]}x{patch[1]}  {patch[0] * patch[1]:2d} | {row}")
    print(f"total time {time.perf_counter() - start:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ANCHORS), figsize=(10, 4), sharey=True)
    for ax, anchor in zip(axes, ANCHORS):
        for i, patch in enumerate(PATCHES):
            ax.plot(RATIOS, prob[anchor][i], "o-",
                    label=f"{patch[0]}x{patch[1]} (p={patch[0] * patch[1]})")
        ax.set_xlabel("n / patch_size")
        ax.set_title(f'anchor = "{anchor}"')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("P(exact recovery)")
    axes[0].legend()
    fig.suptitle("Convex ReLU-CNN relaxation: exact recovery of a planted filter")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
