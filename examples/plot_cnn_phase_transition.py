"""
==================================================
Phase transition of the convex ReLU-CNN relaxation
==================================================

A one-filter ReLU CNN ``y = mean_k relu(w . P_k x)`` is planted on Gaussian
images made of a 3 x 3 grid of non-overlapping patches. The relaxation
(:class:`~sklearn_convexnn.ReLURelaxationCNNRegressor`) maximizes an anchor
over the filters that do not overshoot any target, a linear program. We
count how often it returns the planted filter exactly (relative error
< 1e-4) as the number of samples per filter weight, ``n / patch_size``,
grows, for several patch sizes and two anchors:

* ``"auto"``: the package's anchor (least-squares slope of y on the pooled
  patch vector);
* ``"raw"``: ``sum_i y_i mean_k P_k x_i`` (the plain correlation, which also
  points at the filter in expectation for non-overlapping patches), computed
  below from the images and passed as an array.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

from sklearn_convexnn import ReLURelaxationCNNRegressor
from sklearn_convexnn.datasets import make_planted_cnn
from sklearn_convexnn.exceptions import RelaxationUnboundedError

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"
PATCHES = [(2, 2), (3, 3)] if QUICK else [(2, 2), (3, 3), (4, 4)]
RATIOS = [1, 2, 4, 8] if QUICK else [1, 1.5, 2, 3, 4, 6, 8, 10, 14]
TRIALS = 4 if QUICK else 10
ANCHORS = ["auto", "raw"]


def raw_anchor(X, y, image, patch):
    """``sum_i y_i mean_k P_k x_i`` for non-overlapping patches (row-major)."""
    (H, W), (ph, pw) = image, patch
    blocks = X.reshape(len(X), H // ph, ph, W // pw, pw)
    pooled = blocks.mean(axis=(1, 3)).reshape(len(X), ph * pw)
    return pooled.T @ y


def recovered(patch, ratio, seed, anchor):
    """True when the relaxation returns the planted filter."""
    image = (3 * patch[0], 3 * patch[1])
    p = patch[0] * patch[1]
    n = round(ratio * p)
    X, y, (U, _) = make_planted_cnn(n, image, patch, stride=patch, random_state=seed,
                                    return_network=True)
    if anchor == "raw":
        anchor = raw_anchor(X, y, image, patch)
    reg = ReLURelaxationCNNRegressor(image_shape=image, patch_shape=patch, stride=patch,
                                     pool_regions=(1, 1), anchor=anchor)
    try:
        reg.fit(X, y)
    except RelaxationUnboundedError:  # too few samples: the LP is unbounded
        return False
    return np.linalg.norm(reg.filters_[0] - U[0]) < 1e-4 * np.linalg.norm(U[0])


# %%
# Recovery probability
# --------------------
start = time.perf_counter()
prob = {a: np.zeros((len(PATCHES), len(RATIOS))) for a in ANCHORS}
for anchor in ANCHORS:
    for i, patch in enumerate(PATCHES):
        for j, ratio in enumerate(RATIOS):
            prob[anchor][i, j] = np.mean(
                [recovered(patch, ratio, seed, anchor) for seed in range(TRIALS)]
            )

print(f"Probability of exact recovery ({TRIALS} trials per cell; "
      f"3x3 grid of non-overlapping patches, average pooling)")
header = "anchor  patch  p  | " + " ".join(f"n/p={r:<4g}" for r in RATIOS)
print(header)
print("-" * len(header))
for anchor in ANCHORS:
    for i, patch in enumerate(PATCHES):
        row = " ".join(f"{v:8.2f}" for v in prob[anchor][i])
        print(f"{anchor:6s}  {patch[0]}x{patch[1]}  {patch[0] * patch[1]:2d} | {row}")
print(f"total time {time.perf_counter() - start:.1f} s")

# %%
# The transition sits at a fixed number of samples per filter weight,
# whatever the patch size.
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
fig.savefig("cnn_phase_transition.png", dpi=120)
plt.show()
