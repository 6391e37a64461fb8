"""The full-matrix (proxgrad) solver against independent references.

References are cvxpy programs written here from the paper's formulation:
one pair of PSD matrices per (output, pooling block) with the sphere
constraint ``tr(Z1) = Z4``, the lifted features built from plain loops over
samples and patches. The projection is checked against cvxpy's own
projection problem.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock, network_forward
from sklearn_convexnn._solvers.lifted.proxgrad import solve_lifted_proxgrad
from sklearn_convexnn._solvers.lifted.psd_projection import project_psd_hyperplane
from sklearn_convexnn._solvers.shared.losses import get_loss

ACT = (0.09, 0.5, 0.47)


def _cvxpy_loss(name, yhat, Y):
    n = Y.shape[0]
    if name == "squared":
        return 0.5 * cp.sum_squares(yhat - Y) / n
    if name == "huber":
        return 0.5 * cp.sum(cp.huber(yhat - Y, 1.0)) / n
    if name == "logistic":
        return cp.sum(cp.logistic(-cp.multiply(Y, yhat))) / n
    return (cp.sum(cp.log_sum_exp(yhat, axis=1)) - cp.sum(cp.multiply(Y, yhat))) / n


def reference_value(P, pools, Y, alpha, loss, intercept=True, act=ACT):
    """Optimal value of the lifted SDP over rows P pooled by each of ``pools``."""
    n, k = Y.shape
    p = P.shape[1]
    # Same problem on rows of unit RMS norm (activation rescaled): tamer numbers.
    s = np.sqrt(np.mean(np.sum(P**2, axis=1)))
    P = P / s
    a, b, c = act[0] * s * s, act[1] * s, act[2]
    cols, pen = [], 0
    cons = []
    for _ in range(k):
        col = 0
        for pool in pools:
            W = np.eye(n) if pool is None else pool.toarray()
            Zp = cp.Variable((p + 1, p + 1), PSD=True)
            Zm = cp.Variable((p + 1, p + 1), PSD=True)
            cons += [cp.trace(Zp[:p, :p]) == Zp[p, p], cp.trace(Zm[:p, :p]) == Zm[p, p]]
            D = Zp - Zm
            rows = a * cp.sum(cp.multiply(P @ D[:p, :p], P), axis=1) + b * (P @ D[:p, p]) \
                + c * D[p, p]
            col = col + W @ rows
            pen += Zp[p, p] + Zm[p, p]
        cols.append(col)
    yhat = cp.vstack(cols).T + (cp.Variable((1, k)) if intercept else 0)
    prob = cp.Problem(cp.Minimize(_cvxpy_loss(loss, yhat, Y) + alpha * pen), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver="CLARABEL")
        if prob.status != cp.OPTIMAL:
            prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    assert prob.status == cp.OPTIMAL, prob.status
    return prob.value


def _images(n, rng, H=5, W=5):
    """Smooth random images: sums of a few blobs, so pixels correlate like real ones."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.zeros((n, H * W))
    for i in range(n):
        for _ in range(2):
            cy, cx = rng.uniform(0, H - 1), rng.uniform(0, W - 1)
            out[i] += rng.uniform(0.5, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2).ravel()
    return out


def _loop_patch_problem(X, H=5, W=5, ph=2, pw=2, grid=(2, 2)):
    """Patches (n*K, p) and one pooling matrix per region, by loops."""
    n = X.shape[0]
    pos = [(r, c) for r in range(H - ph + 1) for c in range(W - pw + 1)]
    K = len(pos)
    P = np.array([[X[i].reshape(H, W)[r + a, c + b] for a in range(ph) for b in range(pw)]
                  for i in range(n) for (r, c) in pos])
    rows = np.array_split(np.arange(H - ph + 1), grid[0])
    cols = np.array_split(np.arange(W - pw + 1), grid[1])
    pools = []
    for rr in rows:
        for cc in cols:
            mine = [j for j, (r, c) in enumerate(pos) if r in rr and c in cc]
            M = np.zeros((n, n * K))
            for i in range(n):
                for j in mine:
                    M[i, i * K + j] = 1.0 / len(mine)
            pools.append(sp.csr_matrix(M))
    return P, pools


def _dense_problem(kind, rng, n=80):
    X = rng.normal(size=(n, 4))
    T = X @ np.array([[0.6, 0.8, 0, 0], [0, 0, 0.6, -0.8]]).T
    f = 0.5 * T[:, 0] ** 2 - 0.4 * T[:, 1] ** 2 + 0.3 * X[:, 3]
    if kind == "squared":
        return X, (f + 0.1 * rng.normal(size=n))[:, None], "squared"
    if kind == "huber":
        return X, (f + 0.1 * rng.standard_t(2, size=n))[:, None], "huber"
    if kind == "logistic":
        return X, np.where(f > np.median(f), 1.0, -1.0)[:, None], "logistic"
    labels = np.digitize(f, np.quantile(f, [1 / 3, 2 / 3]))
    return X, np.eye(3)[labels], "multinomial"


def _check(res, blocks, Y, loss_name, alpha, ref, rtol=1e-4):
    loss = get_loss(loss_name)
    assert res.status == "optimal"
    assert abs(res.objective - ref) <= rtol * abs(ref)
    assert res.lower_bound <= ref + 1e-7 * abs(ref)
    # The returned network is the lifted solution: same objective from its neurons.
    Yhat = network_forward(blocks, res.neurons, res.weights, res.block_index, res.intercept,
                           ACT)
    net = loss.value(Yhat, Y) + alpha * np.abs(res.weights).sum()
    assert abs(net - res.objective) <= 1e-6 * abs(ref)
    # As sparse as the matrices: one neuron per unit of rank.
    eig = [np.linalg.eigvalsh(Zb) for row in res.Z for pair in row for Zb in pair]
    rank = sum(int(np.sum(e > 1e-9 * max(e.max(), 1e-300))) for e in eig)
    assert res.neurons.shape[0] <= rank


@pytest.mark.parametrize("method", ["fista", "admm"])
@pytest.mark.parametrize("loss_name", [
    "squared", pytest.param("multinomial", marks=pytest.mark.slow)])
def test_multiregion_multioutput_cnn_matches_cvxpy(method, loss_name):
    rng = np.random.default_rng(0)
    X = _images(40, rng)
    P, pools = _loop_patch_problem(X)
    blocks = [LiftedBlock(P, pool) for pool in pools]
    u = np.array([0.5, -0.5, 0.5, -0.5])
    feats = np.column_stack([pool @ (P @ u) ** 2 for pool in pools])
    if loss_name == "squared":
        Y = np.column_stack([feats[:, 0] - feats[:, 3], feats[:, 1] + 0.5 * feats[:, 2]])
        Y += 0.01 * rng.normal(size=Y.shape)
    else:
        Y = np.eye(3)[np.argmax(feats[:, :3] + 0.01 * rng.normal(size=(40, 3)), axis=1)]
    alpha = 1e-3
    ref = reference_value(P, pools, Y, alpha, loss_name)
    res = solve_lifted_proxgrad(blocks, Y, get_loss(loss_name), ACT, alpha, tol=1e-7,
                                max_iter=20_000, method=method)
    _check(res, blocks, Y, loss_name, alpha, ref)


@pytest.mark.parametrize("kind", ["squared", "huber", "logistic", "multinomial"])
@pytest.mark.parametrize("intercept", [True, False])
def test_dense_matches_cvxpy(kind, intercept):
    X, Y, loss_name = _dense_problem(kind, np.random.default_rng(1))
    alpha = 1e-2
    ref = reference_value(X, [None], Y, alpha, loss_name, intercept)
    blocks = [LiftedBlock(X)]
    res = solve_lifted_proxgrad(blocks, Y, get_loss(loss_name), ACT, alpha, tol=1e-7,
                                max_iter=20_000, fit_intercept=intercept)
    _check(res, blocks, Y, loss_name, alpha, ref)


def test_streamed_passes_equal_explicit_features():
    X, Y, _ = _dense_problem("squared", np.random.default_rng(2), n=300)
    blocks = [LiftedBlock(X)]
    loss = get_loss("squared")
    a = solve_lifted_proxgrad(blocks, Y, loss, ACT, 1e-2, tol=1e-8, explicit=True,
                              method="fista")
    b = solve_lifted_proxgrad(blocks, Y, loss, ACT, 1e-2, tol=1e-8, explicit=False)
    assert abs(a.objective - b.objective) <= 1e-7 * a.objective
    assert b.lower_bound <= a.objective and a.lower_bound <= b.objective


@pytest.mark.parametrize("seed", range(4))
def test_early_stop_bound_below_optimum(seed):
    rng = np.random.default_rng(10 + seed)
    kind = ["squared", "logistic", "multinomial", "huber"][seed]
    X, Y, loss_name = _dense_problem(kind, rng, n=60)
    ref = reference_value(X, [None], Y, 5e-3, loss_name)
    for max_iter in (1, 3, 10):
        for explicit in (True, False):
            with pytest.warns(ConvergenceWarning, match="max_iter"):
                res = solve_lifted_proxgrad(
                    [LiftedBlock(X)], Y, get_loss(loss_name), ACT, 5e-3, tol=1e-12,
                    max_iter=max_iter, explicit=explicit, polish_evals=max_iter)
            assert res.status == "max_iter"
            assert res.lower_bound <= ref + 1e-7 * abs(ref)
            assert res.objective >= ref - 1e-7 * abs(ref)
            assert res.gap >= 0


@pytest.mark.parametrize("seed", range(3))
def test_projection_matches_cvxpy(seed):
    rng = np.random.default_rng(seed)
    q = 5
    V = rng.normal(size=(q, q))
    V = V + V.T
    g = np.diag(rng.uniform(0.5, 2.0, size=q) * np.r_[np.ones(q - 1), -1.0])
    W, _, _ = project_psd_hyperplane(V[None], g[None], np.zeros(1))
    Z = cp.Variable((q, q), PSD=True)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(Z - V)), [cp.trace(g @ Z) == 0])
    prob.solve(solver="CLARABEL")
    # Ours is exact: at least as close as the interior point's answer, and the same point.
    assert np.sum((W[0] - V) ** 2) <= prob.value * (1 + 1e-7)
    assert np.allclose(W[0], Z.value, atol=1e-4)
    assert abs(np.trace(g @ W[0])) <= 1e-10 * np.abs(V).max()
    assert np.linalg.eigvalsh(W[0]).min() >= -1e-12


def test_refuses_nonsmooth_loss():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="Lipschitz"):
        solve_lifted_proxgrad([LiftedBlock(X)], np.ones((20, 1)), get_loss("hinge"), ACT, 1e-2)


def test_estimators_take_proxgrad():
    from sklearn_convexnn import ConvexCNNClassifier, ConvexPolyNetRegressor
    from sklearn_convexnn.datasets import make_planted_polynet

    X, y = make_planted_polynet(120, 4, 3, noise=0.1, random_state=1)
    fast = ConvexPolyNetRegressor(alpha=5e-3, solver="proxgrad").fit(X, y)
    exact = ConvexPolyNetRegressor(alpha=5e-3, solver="cvxpy").fit(X, y)
    assert fast.solver_ == "proxgrad"
    assert abs(fast.objective_ - exact.objective_) <= 1e-5 * exact.objective_
    assert fast.lower_bound_ <= exact.objective_ * (1 + 1e-7)

    rng = np.random.default_rng(3)
    X = _images(60, rng)
    labels = np.argmax(X[:, [0, 12, 24]], axis=1)
    kw = dict(image_shape=(5, 5), patch_shape=(2, 2), alpha=1e-3, loss="squared")
    fast = ConvexCNNClassifier(solver="proxgrad", **kw).fit(X, labels)
    exact = ConvexCNNClassifier(solver="cvxpy", **kw).fit(X, labels)
    assert fast.solver_ == "proxgrad"
    assert abs(fast.objective_ - exact.objective_) <= 1e-4 * exact.objective_
    assert fast.lower_bound_ <= exact.objective_ * (1 + 1e-7)


def test_no_neuron_at_all_returns_the_intercept_only_network():
    # Labels of one class (as when sample weights zero every sample of the
    # other, scikit-learn's check_classifiers_one_label_sample_weights): the
    # intercept alone lowers the loss towards 0 and no neuron enters. The
    # result must be the empty network, not an indexing error on the empty
    # neuron set; its objective is the logistic loss of its intercept. The
    # infimum 0 is at infinity; the loss reaches round-off (1e-16) within
    # max_iter=3, where objective and bound 0 are both zero: a closed gap
    # (it warned "gap 1.1e-04" or "1.00e+00" when 0/0 was left to chance).
    rng = np.random.default_rng(0)
    P = rng.standard_normal((40, 3))
    pool = sp.csr_matrix(np.kron(np.eye(10), np.ones((1, 4))) / 4)
    Y = np.ones((10, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_lifted_proxgrad([LiftedBlock(P, pool)], Y, get_loss("logistic"), ACT,
                                    10.0, tol=1e-6, max_iter=3)
    assert res.neurons.shape[0] == 0 and res.rank == 0 and res.weights.size == 0
    assert res.intercept[0] > 5
    assert res.objective == pytest.approx(np.log1p(np.exp(-res.intercept[0])), rel=1e-9)
    # The logistic loss is nonnegative: 0 bounds the optimum from below.
    assert res.objective < 1e-15 and res.status == "optimal" and res.gap == 0.0


@pytest.mark.parametrize("kind", ["squared", "huber", "logistic", "multinomial"])
def test_newton_polish_hessian_matches_finite_differences(kind, monkeypatch):
    """The Newton polish's Hessian against central differences of its gradient."""
    from sklearn_convexnn._solvers.lifted import proxgrad_newton, proxgrad_polish

    seen = []
    original = proxgrad_newton.newton_minimize

    def spy(fg, hess, x, *args, **kwargs):
        seen.append((fg, hess, np.array(x)))
        return original(fg, hess, x, *args, **kwargs)

    monkeypatch.setattr(proxgrad_polish, "newton_minimize", spy)
    for n in (80, 200):
        X, Y, loss_name = _dense_problem(kind, np.random.default_rng(n), n=n)
        solve_lifted_proxgrad([LiftedBlock(X)], Y, get_loss(loss_name), ACT, 1e-2, tol=1e-7,
                              max_iter=30)
        assert seen, "the Newton polish did not run"
        fg, hess, x = seen[-1]  # the closures see the final set of neurons
        rng = np.random.default_rng(0)
        x = x + 0.05 * rng.normal(size=x.shape) * (np.abs(x) + 0.1)
        H = hess(x) if fg(x) is not None else None
        v = rng.normal(size=x.shape)
        h = 1e-5 * max(1.0, float(np.linalg.norm(x)))
        Hv = (fg(x + h * v)[1] - fg(x - h * v)[1]) / (2 * h)
        assert np.linalg.norm(H @ v - Hv) <= 1e-5 * np.linalg.norm(Hv)


def test_lbfgs_polish_matches_cvxpy(monkeypatch):
    """Past the Newton polish's size the L-BFGS polish reaches the same optimum."""
    from sklearn_convexnn._solvers.lifted import proxgrad_polish

    monkeypatch.setattr(proxgrad_polish, "NEWTON_MAX_PARAMS", 0)
    X, Y, loss_name = _dense_problem("squared", np.random.default_rng(1))
    ref = reference_value(X, [None], Y, 1e-2, loss_name)
    blocks = [LiftedBlock(X)]
    res = solve_lifted_proxgrad(blocks, Y, get_loss(loss_name), ACT, 1e-2, tol=1e-7,
                                max_iter=20_000)
    _check(res, blocks, Y, loss_name, 1e-2, ref)


@pytest.mark.parametrize("intercept", [True, False])
def test_rows_backward_equals_lifted_features(intercept):
    """The polish's gradient matrices through the rows equal the lifted features' pass."""
    from sklearn_convexnn._solvers.lifted.lifted_operators import ExplicitOperator
    from sklearn_convexnn._solvers.lifted.proxgrad_polish import _rows_backward

    rng = np.random.default_rng(0)
    P, theta = rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    op = ExplicitOperator([LiftedBlock(P)], ACT, intercept)
    # Reference: sum_i theta_io (Phi_i - mean Phi) from the definition, by loops.
    a, b, c = ACT
    Phi = np.array([[[a * x[j] * x[l] if j < 4 and l < 4 else
                      (0.5 * b * x[min(j, l)] if max(j, l) == 4 and min(j, l) < 4 else c)
                      for l in range(5)] for j in range(5)] for x in P])
    if intercept:
        Phi = Phi - Phi.mean(axis=0)
    ref = np.einsum("io,ijl->ojl", theta, Phi)[:, None]
    np.testing.assert_allclose(_rows_backward(op, P, theta), ref, atol=1e-12)
    np.testing.assert_allclose(op.backward(theta), ref, atol=1e-12)
