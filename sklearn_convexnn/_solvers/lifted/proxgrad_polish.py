"""Polish phase of proxgrad: L-BFGS on the neurons of the lifted matrices.

With explicit lifted features (pooled CNN patches) the first-order phase
finds the support; the matrices are then written as neurons (the
Burer-Monteiro form, each term meeting the sphere constraint exactly) and
polished by L-BFGS, with the exact dual check between chunks adding any
neuron that violates it (``_solvers/lifted/proxgrad.py``).
"""

import numpy as np
from scipy.optimize import minimize

from .psd_projection import RANK_RTOL, sym
from .sphere_dual import sphere_ranges
from .trust_region import trust_region_max

__all__ = ["polish_neurons"]


def polish_neurons(op, Y, loss, curv, best, T, T_inv, s_q, pen, dual, fit_intercept, tol,
                   max_evals, verbose, bound, theta_best, chunk=40):
    """L-BFGS on the neurons of the current solution, plus exact pricing.

    The lifted matrices are written as ``W = sum_j s_j l_j l_j^T`` with
    ``l_j = [y_j; ||T11 y_j|| / s_q]`` (each term meets the sphere constraint
    exactly), the Burer-Monteiro form of the problem: smooth in the ``y_j``,
    with the explicit lifted features a function value and gradient cost
    two thin products. Quasi-Newton steps are blind to the conditioning that
    slows the first-order iteration. Between L-BFGS chunks the certificate
    is taken; if it fails, the violating neurons (trust-region maximizers
    of the dual check) join the network.
    """
    _, W, b, _ = best
    k, R, _, q, _ = W.shape
    p = q - 1
    n = Y.shape[0]
    T11 = T[:, :p, :p]
    Gw11 = T11.transpose(0, 2, 1) @ T11
    Tt = T.transpose(0, 2, 1)

    def neurons_of(W):
        """Rank-one (neural) decomposition of every matrix, in W coordinates."""
        rows, outs, regs, signs = [], [], [], []
        for o in range(k):
            for r in range(R):
                for side, sgn in ((0, 1.0), (1, -1.0)):
                    U, w = _neural(sym(T[r] @ W[o, r, side] @ Tt[r]))
                    for u, wj in zip(U, w):
                        rows.append((T_inv[r] @ (np.sqrt(wj) * np.append(u, 1.0)))[:p])
                        outs.append(o)
                        regs.append(r)
                        signs.append(sgn)
        return (np.array(rows).reshape(-1, p), np.array(outs, dtype=int),
                np.array(regs, dtype=int), np.array(signs))

    Yv, o_j, r_j, s_j = neurons_of(W)
    evals = 0

    def split(x):
        m = o_j.size
        return x[:m * p].reshape(m, p), (x[m * p:] if fit_intercept else b)

    def lifted(Yv):
        Gy = np.einsum("jab,jb->ja", Gw11[r_j], Yv)
        t = np.sqrt(np.maximum(np.sum(Yv * Gy, axis=1), 0.0)) / s_q
        return np.hstack([Yv, t[:, None]]), t, Gy

    def matrices(lv):
        D = np.zeros((k * R, q, q))
        np.add.at(D, o_j * R + r_j, s_j[:, None, None] * lv[:, :, None] * lv[:, None, :])
        return D.reshape(k, R, q, q)

    def fg(x):
        nonlocal evals
        evals += 1
        Yv, bb = split(x)
        lv, t, Gy = lifted(Yv)
        Yhat = op.forward(matrices(lv)) + bb
        f = loss.value(Yhat, Y) + pen * float(t @ t)
        theta = loss.gradient(Yhat, Y)
        G = op.backward(theta)
        gl = 2 * s_j[:, None] * np.einsum("jab,jb->ja", G[o_j, r_j], lv)
        gl[:, p] += 2 * pen * t
        gy = gl[:, :p] + gl[:, p:] * Gy / (s_q**2 * np.maximum(t, 1e-300))[:, None]
        parts = [gy.ravel()] + ([theta.sum(axis=0)] if fit_intercept else [])
        fg.last = (f, Yhat, theta, G, bb)
        return f, np.concatenate(parts)

    status, gap, rounds = "max_iter", np.inf, 0
    x = np.concatenate([Yv.ravel()] + ([b] if fit_intercept else []))
    while evals < max_evals:
        rounds += 1
        if o_j.size or fit_intercept:
            res = minimize(fg, x, jac=True, method="L-BFGS-B",
                           options={"maxiter": chunk, "maxcor": 30, "ftol": 0.0,
                                    "gtol": 0.0, "maxfun": 2 * chunk})
            x = res.x
        fg(x)
        f, Yhat, theta, G, bb = fg.last
        Yv, _ = split(x)
        lv, _, _ = lifted(Yv)
        Wn = np.zeros_like(W)
        Wn[:, :, 0] = matrices(lv * (s_j > 0)[:, None])
        Wn[:, :, 1] = -matrices(lv * (s_j < 0)[:, None])
        if f < best[0]:
            best = (f, Wn, np.array(bb, dtype=float), Yhat)
        lb, th = dual.bound(G, theta)
        if lb > bound:
            bound, theta_best = lb, th
        gap = (best[0] - bound) / max(abs(best[0]), 1e-12)
        if verbose:
            print(f"[proxgrad/polish] round {rounds}: objective {f:.10g}, bound {bound:.10g}, "
                  f"gap {gap:.2e}, neurons {o_j.size}, evaluations {evals}")
        if gap <= tol:
            status = "optimal"
            break
        # Pricing on the caller's sphere: G_Z = T^-T G_W T^-1.
        GZ = T_inv.transpose(0, 2, 1)[None] @ G @ T_inv[None]
        # Batched upper bounds first; exact maximizers only where they violate.
        ups = np.stack(sphere_ranges(GZ), axis=1).reshape(k, R, 2)
        new = []
        for o, r, j in zip(*np.nonzero(ups > dual.alpha * (1 + 1e-6))):
            side = 1.0 if j == 0 else -1.0
            A = sym(GZ[o, r, :p, :p])
            g = 2 * GZ[o, r, :p, p]
            val, u, _ = trust_region_max(side * A, side * g)
            v = val + side * GZ[o, r, p, p]
            if v > dual.alpha * (1 + 1e-6):
                new.append((o, r, -side, u, v))
        if not new:
            chunk = min(2 * chunk, 2000)
            continue
        # Same matrices on as few neurons as their rank, then the newcomers.
        Yv, o_j, r_j, s_j = neurons_of(Wn)
        adds = []
        for o, r, sgn, u, v in new:
            lw = T_inv[r] @ np.append(u, 1.0)
            D = np.zeros((k, R, q, q))
            D[o, r] = np.outer(lw, lw)
            h = op.forward(D)[:, o]
            w0 = (v - dual.alpha) * n / max(curv * float(h @ h), 1e-300) / len(new)
            adds.append(np.sqrt(w0) * lw[:p])
            o_j = np.append(o_j, o)
            r_j = np.append(r_j, r)
            s_j = np.append(s_j, sgn)
        Yv = np.vstack([Yv, np.array(adds)])
        x = np.concatenate([Yv.ravel()] + ([bb] if fit_intercept else []))
    return best, bound, theta_best, status, gap, rounds, evals


def _neural(Z):
    from .decomposition import neural_decomposition

    return neural_decomposition(Z, RANK_RTOL)
