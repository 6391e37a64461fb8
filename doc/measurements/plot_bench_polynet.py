"""Figure for the comparison page from the numbers ``benchmarks/bench_polynet.py``
printed (full run, quoted on that page): fit time of the exact SDP
(cvxpy/Clarabel) and of the low-rank solver, both to the same objective.

Run from the repository root: ``python doc/measurements/plot_bench_polynet.py``
(writes ``doc/_static/bench_polynet.png``).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# (n, d, cvxpy seconds, lowrank seconds), printed by the full benchmark
ROWS = [(200, 5, 0.22, 0.053), (1000, 15, 1.32, 0.170), (2000, 20, 6.15, 0.439),
        (2000, 50, 23.45, 0.531)]
LARGE = (100_000, 100, 12.2)  # lowrank only: 120 data passes, certified gap 5e-4

size = [n * d * d for n, d, _, _ in ROWS]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(size, [r[2] for r in ROWS], "s-", label='solver="cvxpy" (interior point)')
ax.loglog([*size, LARGE[0] * LARGE[1] ** 2], [*(r[3] for r in ROWS), LARGE[2]], "o-",
          label='solver="lowrank" (certified gap <= 1e-6; 5e-4 at the largest)')
for (n, d, cv, lr) in ROWS:
    ax.annotate(f"{cv / lr:.0f}x", (n * d * d, (cv * lr) ** 0.5), ha="center", fontsize=8)
ax.set_xlabel("n d^2 (size of the lifted data)")
ax.set_ylabel("fit time (s), 2 cores")
ax.set_title("Polynomial network: exact SDP vs low-rank solver")
ax.legend(fontsize=8)
fig.tight_layout()
out = Path(__file__).resolve().parents[1] / "_static" / "bench_polynet.png"
fig.savefig(out, dpi=110)
print(f"saved {out}")
