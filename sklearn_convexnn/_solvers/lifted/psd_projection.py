"""Euclidean projection onto the PSD cone cut by one hyperplane (proxgrad's prox).

The constraint set of one lifted matrix is ``{W PSD, <G, W> = 0}`` with
``G`` symmetric indefinite (``diag(I, -1)`` after the preconditioning
congruence): the projection of ``V`` is ``Proj_PSD(V - mu G)`` for the scalar
``mu`` solving a monotone equation, found by safeguarded semismooth Newton,
one batched eigendecomposition per step (``_solvers/lifted/proxgrad.py``).
"""

import numpy as np

__all__ = ["RANK_RTOL", "project_psd_hyperplane", "sym"]

#: Eigenvalues of a final matrix below this fraction of its largest are dropped.
RANK_RTOL = 1e-9


def sym(A):
    """Symmetric part of a square matrix."""
    return (A + A.T) / 2


def project_psd_hyperplane(V, G, mu, tol=1e-12, max_steps=80):
    """Project every ``V[j]`` onto ``{W PSD, <G, W> = 0}`` (G symmetric, indefinite).

    ``W = Proj_PSD(V - mu G)``, with ``mu`` the root of the
    decreasing function ``h(mu) = <G, W(mu)>``: safeguarded semismooth
    Newton from the given ``mu`` (the derivative comes from the same
    eigendecomposition), bisection when a step leaves the bracket. Returns
    ``(W, mu, rank)``.
    """
    B = V.shape[0]
    V = (V + V.transpose(0, 2, 1)) / 2
    W = np.zeros_like(V)
    rank = np.zeros(B, dtype=int)
    mu = np.array(mu, dtype=float)
    lo = np.full(B, -np.inf)
    hi = np.full(B, np.inf)
    G = np.broadcast_to(G, V.shape)
    gnorm = np.sqrt(np.sum(G * G, axis=(1, 2)))
    scale = np.sqrt(np.sum(V * V, axis=(1, 2))) * gnorm
    gmin = gnorm
    active = np.arange(B)
    for _ in range(max_steps):
        Ga = G[active]
        X = V[active] - mu[active, None, None] * Ga
        lam, U = np.linalg.eigh(X)
        lp = np.maximum(lam, 0.0)
        M = U.transpose(0, 2, 1) @ Ga @ U            # U^T G U
        h = np.sum(lp * np.diagonal(M, axis1=1, axis2=2), axis=1)
        Wa = (U * lp[:, None, :]) @ U.transpose(0, 2, 1)
        W[active] = Wa
        rank[active] = np.sum(lam > RANK_RTOL * np.maximum(lam[:, -1:], 1e-300), axis=1) \
            * (lam[:, -1] > 0)
        done = np.abs(h) <= tol * np.maximum(scale[active], 1e-300)
        if np.all(done):
            break
        # Derivative: h'(mu) = -sum_kl Gamma_kl M_kl^2 (divided differences of max(., 0)).
        diff = lam[:, :, None] - lam[:, None, :]
        num = lp[:, :, None] - lp[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            gam = np.where(np.abs(diff) > 1e-14 * (np.abs(lam).max(axis=1)[:, None, None]
                                                   + 1e-300),
                           num / diff, (lam[:, :, None] > 0) & (lam[:, None, :] > 0))
        hp = -np.sum(gam * M * M, axis=(1, 2))
        m = mu[active]
        pos = h > 0
        lo[active] = np.where(pos, np.maximum(lo[active], m), lo[active])
        hi[active] = np.where(~pos, np.minimum(hi[active], m), hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(hp < 0, -h / hp, np.sign(h) * scale[active] / gmin[active]**2)
        new = m + step
        la, ha = lo[active], hi[active]
        bad = ~((new > la) & (new < ha)) | ~np.isfinite(new)
        both = np.isfinite(la) & np.isfinite(ha)
        new = np.where(bad & both, 0.5 * (la + ha), new)
        # One side open and the step left the bracket: double away from it.
        wide = bad & ~both
        far = np.maximum(np.abs(step), scale[active] / gmin[active]**2 + 1e-300)
        new = np.where(wide & pos, m + 2 * far, new)
        new = np.where(wide & ~pos, m - 2 * far, new)
        new = np.where(done, m, new)
        mu[active] = new
        active = active[~done]
    return W, mu, rank
