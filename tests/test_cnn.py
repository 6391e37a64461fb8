"""ConvexCNN estimators against independent references.

Patches, pooling and the lifted SDP are rewritten here with plain loops and
cvxpy expressions of their own; nothing is shared with the package's
builders except the estimator under test.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import (
    ConvexCNNClassifier,
    ConvexCNNRegressor,
    ReLURelaxationCNNRegressor,
    alpha_max,
)
from sklearn_convexnn._solvers.lifted.patches import (
    extract_patches,
    patch_geometry,
    pooling_matrices,
)
from sklearn_convexnn._solvers.lifted.relu_relaxation import relu_anchor
from sklearn_convexnn.datasets import make_planted_cnn
from sklearn_convexnn.exceptions import RelaxationUnboundedError

RELU_APPROX = (0.09, 0.5, 0.47)


# ------------------------------------------------------------ loop references
def loop_patches(x, image_shape, patch_shape, stride):
    """Patches of one flattened image, (K, p), and the position grid, by loops."""
    H, W, C = image_shape
    ph, pw = patch_shape
    sh, sw = stride
    img = x.reshape(H, W, C)
    rows = list(range(0, H - ph + 1, sh))
    cols = list(range(0, W - pw + 1, sw))
    out = []
    for r in rows:
        for c in cols:
            out.append([img[r + i, c + j, ch] for i in range(ph) for j in range(pw)
                        for ch in range(C)])
    return np.array(out), (len(rows), len(cols))


def loop_regions(grid, regions, pooling):
    """Per region: list of (position index, weight), by loops."""
    Ho, Wo = grid
    gh, gw = regions
    row_cuts = np.array_split(np.arange(Ho), gh)
    col_cuts = np.array_split(np.arange(Wo), gw)
    out = []
    for rc in row_cuts:
        for cc in col_cuts:
            pos = [int(r) * Wo + int(c) for r in rc for c in cc]
            wt = 1.0 / len(pos) if pooling == "average" else 1.0
            out.append([(k, wt) for k in pos])
    return out


def hand_network(model, X, act=RELU_APPROX):
    """The fitted SDP network evaluated from its public weights, by loops over filters.

    The classifier's filters read the images times ``input_scale_``.
    """
    X = np.asarray(X) * getattr(model, "input_scale_", 1.0)
    g = (model.image_shape_, model.patch_shape_, model.stride, model.pool_regions_)
    stride = (g[2], g[2]) if np.isscalar(g[2]) else tuple(g[2])
    a, b, c = act
    V = np.asarray(model.output_weights_)
    V = V[:, None] if V.ndim == 1 else V
    out = np.tile(np.atleast_1d(model.intercept_), (X.shape[0], 1)).astype(float)
    for i, x in enumerate(X):
        Z, grid = loop_patches(x, g[0], g[1], stride)
        regions = loop_regions(grid, g[3], model.pooling)
        for u, v, r in zip(model.filters_, V, model.filter_regions_):
            t = Z @ u
            act_vals = a * t**2 + b * t + c
            out[i] += v * sum(wt * act_vals[k] for k, wt in regions[r])
    return out


def reference_cnn_sdp(X, Y, alpha, image_shape, patch_shape, stride, regions, pooling,
                      act=RELU_APPROX, loss="squared"):
    """Optimal value of the pooled-patch SDP: one (Z, Z') pair per (output, region)."""
    n = X.shape[0]
    a, b, c = act
    Y = Y.reshape(n, -1)
    per_sample = [loop_patches(x, image_shape, patch_shape, stride) for x in X]
    grid = per_sample[0][1]
    reg = loop_regions(grid, regions, pooling)
    p = per_sample[0][0].shape[1]
    cols, cons, pen = [], [], 0
    for _ in range(Y.shape[1]):
        col = 0
        for members in reg:
            # Lifted data of sample i for this region: M_i = [[a Q_i, b L_i/2], [., c s_i]].
            Ms = []
            for Zi, _ in per_sample:
                Q = sum(wt * np.outer(Zi[k], Zi[k]) for k, wt in members)
                L = sum(wt * Zi[k] for k, wt in members)
                s = sum(wt for _, wt in members)
                M = np.zeros((p + 1, p + 1))
                M[:p, :p] = a * Q
                M[:p, p] = M[p, :p] = b * L / 2
                M[p, p] = c * s
                Ms.append(M)
            Zp = cp.Variable((p + 1, p + 1), symmetric=True)
            Zm = cp.Variable((p + 1, p + 1), symmetric=True)
            cons += [Zp >> 0, Zm >> 0, cp.trace(Zp[:p, :p]) == Zp[p, p],
                     cp.trace(Zm[:p, :p]) == Zm[p, p]]
            Mmat = np.array([M.ravel() for M in Ms])
            col = col + Mmat @ cp.vec(Zp - Zm, order="C")
            pen += Zp[p, p] + Zm[p, p]
        cols.append(col)
    yhat = cp.vstack(cols).T + cp.Variable((1, Y.shape[1]))
    if loss == "squared":
        data = 0.5 * cp.sum_squares(yhat - Y) / n
    elif loss == "multinomial":
        # Y one-hot: mean over samples of log-sum-exp(yhat_i) - <Y_i, yhat_i>.
        data = (cp.sum(cp.log_sum_exp(yhat, axis=1)) - cp.sum(cp.multiply(Y, yhat))) / n
    else:
        data = cp.sum(cp.logistic(-cp.multiply(Y, yhat))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200000)
    assert prob.status == "optimal", prob.status
    return prob.value


# ------------------------------------------------------------------ patches
@pytest.mark.parametrize("image_shape, patch_shape, stride, regions, pooling", [
    ((5, 6, 1), (2, 3), (1, 1), (2, 2), "average"),
    ((7, 7, 2), (3, 3), (2, 2), (3, 1), "sum"),
    ((4, 9, 3), (4, 2), (1, 3), (1, 3), "average"),
])
def test_patches_and_pooling_match_loops(image_shape, patch_shape, stride, regions, pooling):
    rng = np.random.default_rng(0)
    n = 4
    X = rng.standard_normal((n, int(np.prod(image_shape))))
    X0 = X.copy()
    g = patch_geometry(X.shape[1], image_shape, patch_shape, stride, regions, pooling)
    P = extract_patches(X, g)
    ref = [loop_patches(x, image_shape, patch_shape, stride) for x in X]
    assert g.grid == ref[0][1]
    np.testing.assert_array_equal(P, np.vstack([r[0] for r in ref]))
    K = g.n_positions
    for pool, members in zip(pooling_matrices(n, g), loop_regions(g.grid, regions, pooling)):
        dense = np.zeros((n, n * K))
        for i in range(n):
            for k, wt in members:
                dense[i, i * K + k] = wt
        np.testing.assert_array_equal(pool.toarray(), dense)
    np.testing.assert_array_equal(X, X0)


# ---------------------------------------------------------------------- SDP
@pytest.mark.parametrize("stride, regions", [(1, (1, 1)), (1, (2, 2)), (2, (1, 2))])
def test_sdp_matches_independent_reference(stride, regions):
    X, y = make_planted_cnn(30, (4, 4), (2, 2), stride=stride, n_filters=2,
                            activation=RELU_APPROX, pool_regions=regions, noise=0.1,
                            random_state=1)
    alpha = 1e-2
    reg = ConvexCNNRegressor(image_shape=(4, 4), patch_shape=(2, 2), stride=stride,
                             pool_regions=regions, alpha=alpha).fit(X, y)
    hand = hand_network(reg, X)[:, 0]
    np.testing.assert_allclose(reg.predict(X), hand, rtol=1e-9, atol=1e-9)
    own = 0.5 * np.mean((hand - y) ** 2) + alpha * np.abs(reg.output_weights_).sum()
    ref = reference_cnn_sdp(X, y, alpha, (4, 4, 1), (2, 2), (stride, stride), regions,
                            "average")
    assert own == pytest.approx(ref, rel=1e-4)
    assert reg.objective_ == pytest.approx(own, rel=1e-9)
    assert reg.lower_bound_ <= own * (1 + 1e-6)
    assert reg.filters_ is reg.hidden_weights_
    np.testing.assert_allclose(np.linalg.norm(reg.filters_, axis=1), 1.0, rtol=1e-6)


def test_sdp_classifier_matches_reference_with_sum_pooling():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 12))
    y = (X[:, :6].sum(axis=1) > X[:, 6:].sum(axis=1)).astype(int)
    alpha = 2e-2
    clf = ConvexCNNClassifier(image_shape=(3, 4), patch_shape=(2, 2), pool_regions=(1, 2),
                              pooling="sum", alpha=alpha).fit(X, y)
    score = hand_network(clf, X)[:, 0]
    np.testing.assert_allclose(clf.decision_function(X), score, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(clf.predict(X), (score > 0).astype(int))
    Y = 2.0 * y - 1
    own = np.mean(np.logaddexp(0, -Y * score)) + alpha * np.abs(clf.output_weights_).sum()
    # The network reads X * input_scale_ ("auto": root-mean-square pixel 2).
    scale = 2.0 / np.sqrt(np.mean(X**2))
    assert clf.input_scale_ == pytest.approx(scale, rel=1e-12)
    ref = reference_cnn_sdp(X * scale, Y, alpha, (3, 4, 1), (2, 2), (1, 1), (1, 2), "sum",
                            loss="logistic")
    assert own == pytest.approx(ref, rel=1e-4)


def test_sdp_classifier_input_scale_makes_pixel_units_irrelevant():
    # "auto" reads X and 16 X as the same images; None reads the pixels as given
    # and then matches the SDP on X itself.
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, size=(30, 12))
    y = (X[:, :6].sum(axis=1) > X[:, 6:].sum(axis=1)).astype(int)
    kw = dict(image_shape=(3, 4), patch_shape=(2, 2), pool_regions=(1, 2), alpha=2e-2)
    a = ConvexCNNClassifier(**kw).fit(X, y)
    b = ConvexCNNClassifier(**kw).fit(16 * X, y)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(16 * X),
                               rtol=1e-4, atol=1e-4)
    raw = ConvexCNNClassifier(input_scale=None, **kw).fit(X, y)
    assert raw.input_scale_ == 1.0
    score = hand_network(raw, X)[:, 0]
    Y = 2.0 * y - 1
    own = np.mean(np.logaddexp(0, -Y * score)) + 2e-2 * np.abs(raw.output_weights_).sum()
    ref = reference_cnn_sdp(X, Y, 2e-2, (3, 4, 1), (2, 2), (1, 1), (1, 2), "average",
                            loss="logistic")
    assert own == pytest.approx(ref, rel=1e-4)


def test_default_classifier_certificate_brackets_cvxpy_multinomial_optimum():
    # Three classes, two pooling regions: the default tol=1e-3 run of the
    # first-order solver (what solver="auto" takes on larger problems) must
    # bracket the independent cvxpy optimum between lower_bound_ and
    # objective_, and be within tol of it; its objective is the public network's.
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 1, size=(45, 16))
    y = np.argmax((X - 0.5) @ rng.standard_normal((16, 3)), axis=1)
    alpha = 1e-2
    clf = ConvexCNNClassifier(image_shape=(4, 4), patch_shape=(2, 2), pool_regions=(2, 1),
                              alpha=alpha, solver="proxgrad").fit(X, y)
    assert clf.tol == 1e-3 and len(clf.classes_) == 3
    score = hand_network(clf, X)
    Y = (y[:, None] == clf.classes_[None, :]).astype(float)
    own = (np.mean(np.log(np.exp(score).sum(axis=1)) - (Y * score).sum(axis=1))
           + alpha * np.abs(clf.output_weights_).sum())
    assert own == pytest.approx(clf.objective_, rel=1e-9)
    ref = reference_cnn_sdp(X * clf.input_scale_, Y, alpha, (4, 4, 1), (2, 2), (1, 1),
                            (2, 1), "average", loss="multinomial")
    assert clf.lower_bound_ <= ref * (1 + 1e-6)
    assert ref <= clf.objective_ * (1 + 1e-6)
    assert (clf.objective_ - ref) / ref <= 1e-3


def test_multichannel_multioutput_predict_is_the_network():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((25, 3 * 3 * 2))
    Y = np.column_stack([X[:, ::2].sum(axis=1) ** 2 / 9, X[:, 1::2].mean(axis=1)])
    reg = ConvexCNNRegressor(image_shape=(3, 3, 2), patch_shape=(2, 2), alpha=1e-2).fit(X, Y)
    assert reg.filters_.shape[1] == 8
    assert reg.predict(X).shape == (25, 2)
    np.testing.assert_allclose(reg.predict(X), hand_network(reg, X), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------- ReLU relaxation
def _recovered(n, seed, image=(9, 9), patch=(3, 3), stride=3):
    X, y, (U, _) = make_planted_cnn(n, image, patch, stride=stride, random_state=seed,
                                    return_network=True)
    reg = ReLURelaxationCNNRegressor(image_shape=image, patch_shape=patch, stride=stride,
                                     pool_regions=(1, 1), slack_weight=None)
    try:
        reg.fit(X, y)
    except RelaxationUnboundedError:
        return False
    return np.linalg.norm(reg.filters_[0] - U[0]) / np.linalg.norm(U[0]) < 1e-4


def test_relu_relaxation_phase_transition():
    """Non-overlapping 3x3 patches of 9x9 images: fails at n = p, recovers at n = 10 p."""
    p, seeds = 9, range(8)
    low = sum(_recovered(1 * p, s) for s in seeds)
    high = sum(_recovered(10 * p, s) for s in seeds)
    assert low <= 1, low
    assert high >= 7, high


def test_relu_relaxation_predict_is_the_network():
    X, y, (U, _) = make_planted_cnn(150, (6, 6), (2, 2), stride=2, pool_regions=(2, 2),
                                    pooling="sum", random_state=0, return_network=True)
    reg = ReLURelaxationCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
                                     pool_regions=(2, 2), pooling="sum",
                                     slack_weight=None).fit(X, y)
    np.testing.assert_allclose(reg.filters_, U, atol=1e-5)
    # By hand: every position pooled with weight 1 (sum over every region).
    hand = np.array([np.maximum(loop_patches(x, (6, 6, 1), (2, 2), (2, 2))[0]
                                @ reg.filters_[0], 0).sum() for x in X])
    np.testing.assert_allclose(reg.predict(X), hand, rtol=1e-9, atol=1e-12)
    assert reg.objective_ < 1e-10
    # The deprecated spelling fits the same model, with a FutureWarning.
    with pytest.warns(FutureWarning, match="ReLURelaxationCNNRegressor"):
        old = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
                                 pool_regions=(2, 2), pooling="sum",
                                 formulation="relu-relaxation").fit(X, y)
    np.testing.assert_allclose(old.filters_, reg.filters_, atol=1e-12)
    np.testing.assert_allclose(old.predict(X), reg.predict(X), atol=1e-12)
    assert np.isnan(old.lower_bound_)


def test_stein_anchor_points_at_filter_for_overlapping_patches():
    """Monte Carlo: the corrected anchor aligns with the filter; the raw one does not."""
    n = 20000
    X, y, (U, _) = make_planted_cnn(n, (5, 5), (3, 3), stride=1, random_state=5,
                                    return_network=True)
    g = patch_geometry(25, (5, 5), (3, 3), 1, (1, 1))
    P, pool = extract_patches(X, g), pooling_matrices(n, g)[0]
    w0 = relu_anchor(P, pool, y)
    raw = np.asarray(pool @ P).T @ y
    cos_w0 = float(w0 @ U[0] / np.linalg.norm(w0))
    cos_raw = float(raw @ U[0] / np.linalg.norm(raw))
    assert cos_w0 > 0.99
    assert cos_raw < 0.95


def test_relu_relaxation_noisy_targets_with_slack():
    X, y, (U, _) = make_planted_cnn(400, (9, 9), (3, 3), stride=3, noise=0.02,
                                    random_state=2, return_network=True)
    kw = {"image_shape": (9, 9), "patch_shape": (3, 3), "stride": 3, "pool_regions": (1, 1)}
    with pytest.raises(ValueError, match="negative"):
        ReLURelaxationCNNRegressor(slack_weight=None, **kw).fit(X, y - 1.0)
    reg = ReLURelaxationCNNRegressor(slack_weight=1e3, **kw).fit(X, y)
    assert np.linalg.norm(reg.filters_[0] - U[0]) < 0.1


def test_user_anchor_is_used():
    X, y, (U, _) = make_planted_cnn(120, (6, 6), (3, 3), stride=3, random_state=0,
                                    return_network=True)
    reg = ReLURelaxationCNNRegressor(image_shape=(6, 6), patch_shape=(3, 3), stride=3,
                                     pool_regions=(1, 1), anchor=2 * U[0],
                                     slack_weight=None).fit(X, y)
    np.testing.assert_allclose(reg.anchor_, U[0], atol=1e-12)
    np.testing.assert_allclose(reg.filters_[0], U[0], atol=1e-5)


# ---------------------------------------------------------------- bad input
def test_bad_geometry_raises_clear_errors():
    X = np.random.default_rng(0).standard_normal((10, 16))
    y = X.sum(axis=1)
    with pytest.raises(ValueError, match=r"image_shape.*16 features"):
        ConvexCNNRegressor(image_shape=(3, 5)).fit(X, y)
    with pytest.raises(ValueError, match="larger than the image"):
        ConvexCNNRegressor(image_shape=(4, 4), patch_shape=(5, 2)).fit(X, y)
    with pytest.raises(ValueError, match="stride"):
        ConvexCNNRegressor(image_shape=(4, 4), stride=0).fit(X, y)
    with pytest.raises(ValueError, match="stride"):
        ConvexCNNRegressor(image_shape=(4, 4), stride=(1, 0)).fit(X, y)
    with pytest.raises(ValueError, match="pool_regions"):
        ConvexCNNRegressor(image_shape=(4, 4), patch_shape=(3, 3), pool_regions=(3, 1)).fit(X, y)
    with pytest.raises(ValueError, match="formulation"):
        ConvexCNNClassifier(image_shape=(4, 4), formulation="relu-relaxation").fit(X, y > 0)
    with pytest.raises(ValueError, match="one output"):
        ReLURelaxationCNNRegressor(image_shape=(4, 4)).fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="anchor must be"):
        ReLURelaxationCNNRegressor(image_shape=(4, 4), anchor=np.ones(3)).fit(X, np.abs(y))
    with pytest.raises(ValueError, match="finite"):  # a NaN anchor is refused too
        ReLURelaxationCNNRegressor(image_shape=(4, 4), anchor=np.full(9, np.nan)).fit(
            X, np.abs(y))
    reg = ConvexCNNRegressor(image_shape=(4, 4), alpha=0.1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :9])


def test_default_geometry_reads_rows_as_1d_signals():
    X = np.random.default_rng(0).standard_normal((20, 7))
    y = X[:, 2] ** 2
    reg = ConvexCNNRegressor(alpha=1e-2).fit(X, y)
    assert reg.image_shape_ == (1, 7, 1)
    assert reg.patch_shape_ == (1, 3)
    assert reg.pool_regions_ == (1, 2)
    assert reg.filters_.shape[1] == 3


# ------------------------------------------------------------------- digits
@pytest.mark.slow
def test_digits_cross_validated_accuracy_against_mlp():
    X, y = load_digits(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    cnn = make_pipeline(StandardScaler(), ConvexCNNClassifier(
        image_shape=(8, 8), patch_shape=(3, 3), pool_regions=(3, 3), loss="squared",
        alpha=1e-4))
    mlp = make_pipeline(StandardScaler(), MLPClassifier(max_iter=1000, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc_cnn = cross_val_score(cnn, X, y, cv=cv).mean()
        acc_mlp = cross_val_score(mlp, X, y, cv=cv).mean()
    print(f"digits 5-fold CV accuracy: ConvexCNN {acc_cnn:.4f}, MLP {acc_mlp:.4f}")
    assert acc_cnn > 0.95
    assert acc_cnn > acc_mlp - 0.02


def test_auto_input_scale_is_the_weighted_rms_so_weights_equal_repetition():
    # input_scale="auto" reads the root-mean-square pixel of the weighted
    # sample (weight 2 = a duplicated image, 0 = a removed one): a zero-weight
    # image of huge pixels must not change it. The weighted fit is then the
    # repeated one: same scale, its network at the optimum of an independent
    # cvxpy SDP on the repeated images.
    rng = np.random.default_rng(6)
    X = rng.uniform(0, 1, size=(24, 12))
    y = (X[:, :6].sum(axis=1) > X[:, 6:].sum(axis=1)).astype(int)
    w = rng.integers(0, 3, size=24)
    w[0] = 0
    X[0] *= 100.0
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    kw = dict(image_shape=(3, 4), patch_shape=(2, 2), pool_regions=(1, 2), alpha=2e-2,
              solver="cvxpy")
    weighted = ConvexCNNClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = ConvexCNNClassifier(**kw).fit(Xr, yr)
    scale = 2.0 / np.sqrt(np.mean(Xr**2))
    assert weighted.input_scale_ == pytest.approx(scale, rel=1e-12)
    assert repeated.input_scale_ == pytest.approx(scale, rel=1e-12)
    Y = 2.0 * yr - 1
    score = hand_network(weighted, Xr)[:, 0]
    own = np.mean(np.logaddexp(0, -Y * score)) + 2e-2 * np.abs(weighted.output_weights_).sum()
    ref = reference_cnn_sdp(Xr * scale, Y, 2e-2, (3, 4, 1), (2, 2), (1, 1), (1, 2), "average",
                            loss="logistic")
    assert own == pytest.approx(ref, rel=1e-5)
    # alpha_max (the top of the CV grid) sees the same weighted scale.
    top = alpha_max(ConvexCNNClassifier(**kw), X, y, sample_weight=w)
    assert top == pytest.approx(alpha_max(ConvexCNNClassifier(**kw), Xr, yr), rel=1e-9)


def test_relu_relaxation_weights_equal_repeated_rows():
    """scikit-learn's weight check on planted data (its own random data has no
    bounded anchor): integer weights, zeros included, against repeated rows."""
    X, y = make_planted_cnn(200, (9, 9), (3, 3), stride=3, noise=0.02, random_state=4)
    sw = np.random.default_rng(0).integers(0, 4, size=len(y))
    kw = {"image_shape": (9, 9), "patch_shape": (3, 3), "stride": 3, "pool_regions": (1, 1),
          "slack_weight": 1e3}
    order = np.random.default_rng(1).permutation(len(y))
    weighted = ReLURelaxationCNNRegressor(**kw).fit(X[order], y[order], sample_weight=sw[order])
    repeated = ReLURelaxationCNNRegressor(**kw).fit(np.repeat(X, sw, axis=0),
                                                    np.repeat(y, sw))
    unweighted = ReLURelaxationCNNRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(weighted.filters_, repeated.filters_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-5, atol=1e-6)
    # ... and the weights matter (the same check would pass if they were ignored
    # only when these two differed by less than the tolerance).
    assert np.abs(unweighted.filters_ - repeated.filters_).max() > 1e-4
