"""
==========================================================
Randomized polar codes: anytime estimates and stragglers
==========================================================

A matrix-vector product ``A @ x`` is split over ``N`` workers. With a
polar code, ``K = N / 2`` data blocks are encoded into ``N`` coded blocks;
the master decodes the exact product by successive cancellation as soon as
the arrived workers allow it, without waiting for the slowest.

Left: before that point, :meth:`PolarCode.anytime_estimate` already gives
an unbiased estimate whose expected error is known in closed form,
``sqrt(K / r - 1)`` relative, ``r`` the rank of the arrived generator
rows. The measured error (root mean square over random mixings) follows
the formula. It vanishes once the arrived rows have full rank, which can
happen a worker or two before successive cancellation decodes (the grey
line): the estimate is then exact, only more costly to compute.

Right: expected completion time under shifted-exponential stragglers
(``load * (1 + Exp(1) / rate)``, load ``1 / K`` per worker) as the
straggling strength ``1 / rate`` grows, for uncoded computation (``K = N``,
every worker needed), replication, an MDS code (any ``K`` workers) and the
polar code.

Saves ``plot_polar_codes.png``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from sklearn_convexnn import (
    MDSCode,
    PolarCode,
    ReplicationCode,
    StragglerSimulator,
    UncodedCode,
)

plt.switch_backend("Agg")  # write files, never open windows
QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"

N, K = (32, 16) if QUICK else (64, 32)
n_mixings = 20 if QUICK else 100
n_trials = 50 if QUICK else 400

rng = np.random.default_rng(0)
A = rng.standard_normal((40 * K, 20))
x = rng.standard_normal(20)
exact = A @ x

# One draw of the finishing times fixes the arrival order.
times = StragglerSimulator(rate=0.5, random_state=0).finishing_times(N, 1.0 / K)
order = np.argsort(times)

measured = np.zeros(N)
predicted = np.zeros(N)
for seed in range(n_mixings):
    code = PolarCode(N, K, random_state=seed)
    coded = code.encode(A)
    results = {}
    for k, worker in enumerate(order):
        results[int(worker)] = coded[worker] @ x
        estimate, relative_error = code.anytime_estimate(results)
        measured[k] += np.sum((estimate - exact) ** 2) / n_mixings
        predicted[k] = relative_error
measured = np.sqrt(measured) / np.linalg.norm(exact)
n_decode = next(k for k in range(1, N + 1) if code.is_decodable(order[:k]))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
arrival = np.sort(times)
ax1.semilogy(arrival, np.maximum(measured, 1e-17), "o-", markersize=3, label="measured")
ax1.semilogy(arrival, np.maximum(predicted, 1e-17), "--", label=r"$\sqrt{K/r - 1}$")
ax1.axvline(arrival[n_decode - 1], color="gray", linewidth=0.8)
ax1.text(arrival[n_decode - 1], 1e-8, " decodable", color="gray")
ax1.set_xlabel("time (units of the whole job's work)")
ax1.set_ylabel(r"relative error $\|\hat y - Ax\| / \|Ax\|$ (RMS)")
ax1.set_title(f"Anytime estimate, polar code N={N}, K={K}")
ax1.legend()

strengths = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
codes = {
    "uncoded": UncodedCode(N),
    "replication (x2)": ReplicationCode(N, K),
    "MDS (Gaussian)": MDSCode(N, K, random_state=0),
    "polar": PolarCode(N, K),
}
for name, code in codes.items():
    means = [
        StragglerSimulator(rate=1.0 / s, random_state=1).expected_completion_time(code, n_trials)
        for s in strengths
    ]
    ax2.plot(strengths, means, "o-", label=name)
ax2.set_xlabel("straggling strength 1 / rate")
ax2.set_ylabel("expected completion time")
ax2.set_title(f"Shifted-exponential stragglers, N={N}, K={K}")
ax2.legend()
fig.tight_layout()
fig.savefig("plot_polar_codes.png", dpi=120)
print(f"decodable after {n_decode} of {N} workers")
print("saved plot_polar_codes.png")
