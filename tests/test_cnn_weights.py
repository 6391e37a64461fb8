"""ConvexCNNClassifier at tight tol: weights are repetitions, the network is the optimum.

Below tol=1e-6 the solver's network is refined by Newton on its support
(``_solvers/lifted/refine.py``). The references are independent: the
pooled-patch SDP written with cvxpy and the network evaluated by loops
(``test_cnn.reference_cnn_sdp``, ``test_cnn.hand_network``), the repeated
rows against the weighted ones, and one solver's network against another's.
"""

import warnings

import numpy as np
import pytest
from test_cnn import hand_network, reference_cnn_sdp

from sklearn_convexnn import ConvexCNNClassifier
from sklearn_convexnn._solvers.lifted.refine import REFINE_BELOW

GEOMETRY = dict(image_shape=(4, 4), patch_shape=(2, 2), pool_regions=(2, 1))


def _problem(seed, n, k):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, 16))
    y = np.argmax((X - 0.5) @ rng.standard_normal((16, k)), axis=1)
    w = rng.integers(0, 4, size=n)
    w[:k] = 1  # every class keeps a row
    w[k] = 0
    return X, y, w


def _multinomial_objective(model, X, y, alpha):
    score = hand_network(model, X)
    Y = (y[:, None] == model.classes_[None, :]).astype(float)
    loss = np.mean(np.log(np.exp(score).sum(axis=1)) - (Y * score).sum(axis=1))
    return loss + alpha * np.abs(model.output_weights_).sum(), Y


@pytest.mark.parametrize("solver", ["auto", "proxgrad"])
def test_weights_equal_repeated_rows_at_the_cvxpy_optimum(solver):
    # Three classes, integer weights (a 0 among them): the weighted fit and
    # the fit on repeated rows are the same network (objective and every
    # prediction, the zero-weight row's too), at the optimum of the
    # independent SDP on the repeated rows.
    X, y, w = _problem(11, 24, 3)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    alpha = 1e-3
    kw = dict(GEOMETRY, alpha=alpha, tol=1e-12, solver=solver)
    order = np.random.default_rng(0).permutation(len(y))  # rows in another order too
    weighted = ConvexCNNClassifier(**kw).fit(X[order], y[order], sample_weight=w[order])
    repeated = ConvexCNNClassifier(**kw).fit(Xr, yr)
    own, Y = _multinomial_objective(weighted, Xr, yr, alpha)
    assert own == pytest.approx(weighted.objective_, rel=1e-10)
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-6)
    for method in ("decision_function", "predict_proba"):
        np.testing.assert_allclose(getattr(weighted, method)(X), getattr(repeated, method)(X),
                                   rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    ref = reference_cnn_sdp(Xr * weighted.input_scale_, Y, alpha, (4, 4, 1), (2, 2), (1, 1),
                            (2, 1), "average", loss="multinomial")
    assert weighted.lower_bound_ <= ref * (1 + 1e-6)
    assert own == pytest.approx(ref, rel=1e-6)


def test_weight_two_equals_a_duplicated_row_one_vs_rest_squared():
    # The squared (one-vs-rest) loss puts three neurons or more on one lifted
    # matrix, whose decompositions form a family: the refined network must
    # still be one (weights 1 and 2 against the row written twice).
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(30, 16))
    y = rng.integers(0, 3, size=30)
    w = np.ones(30, dtype=int)
    w[::3] = 2
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    kw = dict(GEOMETRY, loss="squared", alpha=1e-3, tol=1e-12)
    weighted = ConvexCNNClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = ConvexCNNClassifier(**kw).fit(Xr, yr)
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-6)
    assert weighted.dual_gap_ <= 1e-9 * weighted.objective_
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X),
                               rtol=1e-6, atol=1e-9)
    # One-vs-rest +-1 columns: the squared loss by hand on the public network.
    score = hand_network(weighted, Xr)
    Y = 2.0 * (yr[:, None] == weighted.classes_[None, :]) - 1
    own = 0.5 * np.mean(np.sum((score - Y) ** 2, axis=1)) \
        + 1e-3 * np.abs(weighted.output_weights_).sum()
    assert own == pytest.approx(weighted.objective_, rel=1e-10)


def test_refinement_keeps_the_training_outputs_and_lowers_the_objective():
    # tol=1e-6 stops the solver (no refinement); 1e-12 refines that network.
    # The refined objective is the cvxpy optimum to 1e-9, not above the
    # solver's, and the training outputs move only by the solver's accuracy.
    X, y, _ = _problem(3, 30, 3)
    alpha = 1e-3
    kw = dict(GEOMETRY, alpha=alpha, solver="proxgrad")
    coarse = ConvexCNNClassifier(tol=REFINE_BELOW, **kw).fit(X, y)
    fine = ConvexCNNClassifier(tol=1e-12, **kw).fit(X, y)
    own, Y = _multinomial_objective(fine, X, y, alpha)
    ref = reference_cnn_sdp(X * fine.input_scale_, Y, alpha, (4, 4, 1), (2, 2), (1, 1),
                            (2, 1), "average", loss="multinomial")
    assert own == pytest.approx(ref, rel=1e-6)
    assert fine.objective_ <= coarse.objective_ * (1 + 1e-13)
    assert coarse.objective_ - fine.objective_ <= REFINE_BELOW * coarse.objective_
    assert fine.dual_gap_ <= 1e-9 * fine.objective_
    centred = [m.decision_function(X) - m.decision_function(X).mean(axis=1, keepdims=True)
               for m in (coarse, fine)]
    np.testing.assert_allclose(centred[1], centred[0], atol=1e-2 * np.abs(centred[0]).max())


def test_refined_network_is_the_same_from_either_solver():
    # The interior point (cvxpy) and proxgrad stop at different points of the
    # objective's flat bottom; refined, both are the optimum: one network.
    X, y, _ = _problem(5, 20, 3)
    kw = dict(GEOMETRY, alpha=1e-3, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both certified: no ConvergenceWarning
        nets = [ConvexCNNClassifier(solver=s, **kw).fit(X, y) for s in ("cvxpy", "proxgrad")]
    assert nets[0].solver_.startswith("cvxpy") and nets[1].solver_ == "proxgrad"
    np.testing.assert_allclose(nets[0].predict_proba(X), nets[1].predict_proba(X),
                               rtol=1e-7, atol=1e-10)
    assert nets[0].objective_ == pytest.approx(nets[1].objective_, rel=1e-12)


def _refine_problem(loss_name, seed=0):
    from sklearn_convexnn._solvers.lifted.patches import patch_blocks, resolve_geometry
    from sklearn_convexnn._solvers.lifted.refine import _Problem, _Start
    from sklearn_convexnn._solvers.shared.losses import get_loss

    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(12, 16))
    est = ConvexCNNClassifier(**GEOMETRY)
    blocks = patch_blocks(X, resolve_geometry(est, 16))
    k = 3
    Y = np.eye(k)[rng.integers(0, k, 12)]
    if loss_name != "multinomial":
        Y = 2 * Y - 1
    loss = get_loss(loss_name, sample_weight=rng.integers(0, 3, 12).astype(float) + 0.5)
    m, p = 5, blocks[0].dim
    U = rng.standard_normal((m, p))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    W = np.zeros((m, k))
    W[np.arange(m), [0, 1, 2, 0, 1]] = [1.5, -0.7, 2.0, -0.4, 0.9]
    start = _Start(U, W, np.array([0, 1, 0, 1, 1]), rng.standard_normal(k), True)
    problem = _Problem(blocks, [b.moments() for b in blocks], Y, loss, (0.09, 0.5, 0.47),
                       1e-2, start, True)
    return problem, start


@pytest.mark.parametrize("loss_name", ["multinomial", "squared", "logistic"])
def test_refinement_gradient_and_hessian_match_finite_differences(loss_name):
    # The fixed-support objective's gradient against central differences of
    # its value, its exact Hessian against central differences of the
    # gradient (weighted rows, three outputs, neurons in two blocks).
    problem, start = _refine_problem(loss_name)
    x = start.x
    H, g = problem.hessian_gradient(x)
    np.testing.assert_allclose(g, problem.value_gradient(x)[1], rtol=1e-14, atol=1e-15)
    h = 1e-6
    eye = np.eye(x.size)
    num_g = np.array([(problem.value_gradient(x + h * e)[0]
                       - problem.value_gradient(x - h * e)[0]) / (2 * h) for e in eye])
    np.testing.assert_allclose(g, num_g, rtol=1e-6, atol=1e-8 * np.abs(g).max())
    num_H = np.array([(problem.value_gradient(x + h * e)[1]
                       - problem.value_gradient(x - h * e)[1]) / (2 * h) for e in eye])
    np.testing.assert_allclose(H, (num_H + num_H.T) / 2, rtol=1e-5,
                               atol=1e-7 * np.abs(H).max())


def test_refined_network_is_a_function_of_the_lifted_matrices():
    # Three neurons of one (output, block, sign) written two ways (the
    # rank-one decompositions of their lifted matrix Z form a family): the
    # network handed back is the same, and its Z is the input's (the
    # reference: Z summed by hand from the input neurons).
    from sklearn_convexnn._solvers.lifted.decomposition import neural_decomposition
    from sklearn_convexnn._solvers.lifted.refine import _Start

    rng = np.random.default_rng(4)
    p = 4
    U = rng.standard_normal((3, p))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    w = np.array([1.0, 2.0, 0.5])
    Yz = np.sqrt(w)[:, None] * np.column_stack([U, np.ones(3)])
    Z = Yz.T @ Yz
    # Another decomposition of the same Z: the one neural_decomposition finds,
    # other neurons than U.
    u2, w2 = neural_decomposition(Z)
    assert len(w2) == 3
    assert min(np.abs(U @ u).max() for u in u2) < 1 - 1e-3
    outs = []
    for neurons, weights in ((U, w), (u2, w2)):
        W = np.zeros((len(weights), 1))
        W[:, 0] = weights
        start = _Start(neurons, W, np.zeros(len(weights), dtype=int), np.zeros(1), True)
        outs.append(start.network(start.x))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    Zback = sum(wt * np.outer(np.append(u, 1), np.append(u, 1))
                for u, wt in zip(outs[0][0], outs[0][1][:, 0]))
    np.testing.assert_allclose(Zback, Z, rtol=1e-9, atol=1e-12)
