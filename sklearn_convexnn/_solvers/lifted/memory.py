"""How much memory each solver of the lifted problem allocates, before it runs.

Estimates in bytes from the sizes the solver really builds, calibrated by
peak resident memory (``ru_maxrss`` in a fresh process, interpreter and
imports subtracted) on cvxpy 1.9 with Clarabel 0.x and SCS 3.x:

* **cvxpy, interior point** (Clarabel, MOSEK, ECOS): cvxpy's canonical form
  of the lifted equalities holds about ``CVXPY_BYTES_PER_ENTRY`` bytes per
  entry of the lifted data (``n * p^2`` per output and block: the moment
  matrix, its sparse copies and coefficient tensors; measured 230-310 over
  n = 200..4000, p = 10..40), and the KKT system of every PSD cone of
  ``svec`` size ``q = (p + 1)(p + 2) / 2`` is a dense ``q x q`` block held
  and factored in several copies: ``KKT_COPIES * 8 * q^2`` bytes per cone
  (measured 7.3-7.7 copies at p = 40..80). The ``q^2`` term grows like
  ``p^4``: at p = 250 one copy of one cone is 8.0 GB (the allocation that
  aborted the interpreter in issue 15).
* **cvxpy, SCS**: no KKT factor of the cones (it projects onto them by
  eigendecomposition); the same canonical data (``SCS_BYTES_PER_ENTRY``,
  measured 385) plus ``SCS_BYTES_PER_CONE_ENTRY`` per entry of each
  ``(p + 1)^2`` cone matrix (measured ~2000 at p = 120).
* **lowrank**: the data scaled once (``8 N p``), and per neuron of the
  active width ``m`` a few pre-activation rows of length ``N``
  (``LOWRANK_ROWS_PER_NEURON * 8 * N`` bytes). The width is what the
  optimum needs (at most ``2 (p + 1)`` per output and block); the solver
  checks the budget each time it grows, so the up-front estimate counts
  the first batch (``LOWRANK_START_WIDTH`` per output and block).

``N`` is the number of rows a neuron sees (samples, or samples times patch
positions for a convolutional net), ``p`` the block dimension.
"""

__all__ = [
    "estimate_cvxpy_bytes",
    "estimate_lowrank_bytes",
    "estimate_relu_relaxation_bytes",
    "format_bytes",
    "interior_point",
]

CVXPY_BYTES_PER_ENTRY = 300
SCS_BYTES_PER_ENTRY = 400
KKT_COPIES = 7.5
SCS_BYTES_PER_CONE_ENTRY = 2000
LOWRANK_ROWS_PER_NEURON = 6
LOWRANK_START_WIDTH = 8
#: Patches, pooling matrices and the moments' working chunk, per row and feature.
ROW_COPIES = 3

_FIRST_ORDER = ("SCS",)


def interior_point(cvxpy_solver):
    """Whether a cvxpy solver factors a KKT system (everything but SCS)."""
    return str(cvxpy_solver or "CLARABEL").upper() not in _FIRST_ORDER


def estimate_cvxpy_bytes(n_samples, n_rows, dims, n_outputs, cvxpy_solver=None):
    """Bytes the exact cvxpy path allocates.

    Parameters
    ----------
    n_samples : int
    n_rows : int
        Rows a neuron sees (``N``), shared by the blocks.
    dims : list of int
        Dimension ``p`` of each block.
    n_outputs : int
    cvxpy_solver : str or None
        None is Clarabel.

    Returns
    -------
    int
    """
    entries = sum(n_samples * p * p for p in dims) * n_outputs
    rows = 8 * ROW_COPIES * n_rows * max(dims)
    cones = 2 * n_outputs
    if interior_point(cvxpy_solver):
        kkt = sum(cones * KKT_COPIES * 8 * ((p + 1) * (p + 2) / 2) ** 2 for p in dims)
        return int(entries * CVXPY_BYTES_PER_ENTRY + kkt + rows)
    cone = sum(cones * SCS_BYTES_PER_CONE_ENTRY * (p + 1) ** 2 for p in dims)
    return int(entries * SCS_BYTES_PER_ENTRY + cone + rows)


def estimate_lowrank_bytes(n_rows, dims, n_outputs, width=None):
    """Bytes the lowrank solver allocates at an active width (default: its first batch)."""
    if width is None:
        width = LOWRANK_START_WIDTH * n_outputs * len(dims)
    data = 8 * ROW_COPIES * n_rows * max(dims)
    return int(data + LOWRANK_ROWS_PER_NEURON * 8 * n_rows * width)


def format_bytes(n_bytes):
    """``"512 MiB"``, ``"7.6 GiB"``: real figures, never rounded to zero."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GiB"
    if n_bytes >= 2**20:
        return f"{n_bytes / 2**20:.0f} MiB"
    return f"{max(n_bytes, 0) / 2**10:.0f} KiB"


def estimate_relu_relaxation_bytes(n_rows, patch_size):
    """Bytes of the ReLU relaxation's LP/SOCP: cvxpy's canonical form of the
    constraints ``t >= P w`` (a dense (N, p) block plus the epigraph
    variables and the pooling rows), and the patches themselves."""
    return int(CVXPY_BYTES_PER_ENTRY * n_rows * (patch_size + 2)
               + 8 * ROW_COPIES * n_rows * patch_size)
