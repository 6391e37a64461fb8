"""Convex ReLU networks: two-layer (gated or exact) and three-layer parallel.

A two-layer ReLU network trained with weight decay is, once the activation
patterns ``D_j = diag(1[X g_j >= 0])`` are sampled, the group lasso

    min (1/n) sum_i l((sum_j D_j X w_j)_i + b, y_i) + alpha sum_j ||w_j||_2

(the *gated* network), or the same with ``w_j = u_j - v_j`` restricted to
the cones ``(2 D_j - I) X u_j >= 0`` (the *exact* ReLU network: on its cone
``D_j X u = relu(X u)``). Both are solved to a certified duality gap by the
solvers of ``_solvers/relu``; this module only validates, encodes targets
and turns the solution into a plain network.
"""

import warnings
from collections import namedtuple
from contextlib import nullcontext
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    check_X_y,
    validate_data,
)

from ._base import NetworkClassifierMixin, NetworkRegressorMixin, encode_classes
from ._fast_validation import plain_X_y, set_plain_features, validate_params_once
from ._solvers.relu.admm import admm_memory, solve_exact_admm
from ._solvers.relu.cvxpy_relu import (
    cvxpy_nonzeros,
    estimate_cvxpy_memory,
    solve_relu_cvxpy,
)
from ._solvers.relu.design import MaskedDesign, check_memory
from ._solvers.relu.exact import solve_exact
from ._solvers.relu.gated import ReLUSolution, alpha_max, solve_gated
from ._solvers.relu.gates import (
    GATE_SAMPLING,
    deep_gate_masks,
    gate_masks,
    sample_deep_gates,
    sample_gates,
)
from ._solvers.relu.ipm import IPM_LOSSES
from ._solvers.relu.ipm_outputs import ipm_memory, solve_exact_ipm
from ._solvers.relu.newton import NEWTON_MAX_SAMPLES
from ._solvers.relu.recovery import (
    deep_forward,
    gated_forward,
    neurons_from_weights,
    relu_forward,
)
from ._solvers.relu.threads import usable_cores
from ._solvers.relu.weighted_losses import get_weighted_loss
from ._solvers.shared.l1_refit import single_blas_thread
from .exceptions import ProblemTooLargeError

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor", "relu_alpha_max"]

#: Below this many multiply-adds per product, BLAS runs single-threaded.
SMALL_PRODUCT = 5e7
#: The same for the gated program, whose passes are thin products (d
#: columns) and whose Newton steps are n x n factorizations (n <= 4000).
#: Measured at n=2000, d=50, 500 gates (benchmarks/bench_relu.py, section
#: scnn, tol 1e-6), one BLAS thread vs two: 0.96 s vs 7.1 s wall at load 3,
#: 0.95-0.99 s vs 1.08 s wall at load 0.5 (and twice the CPU time).
GATED_SMALL_PRODUCT = 2e8
#: Gated fits on machines of at most this many cores split their products on
#: Python threads instead (see ``_thread_policy``); measured on two cores only.
SPLIT_MAX_CORES = 2
#: solver="auto", variant="exact", when "ipm" does not apply (multinomial
#: loss, or its memory): an interior-point solve by cvxpy up to this
#: many nonzeros in the canonicalized program (``3 n p k d``), the augmented
#: Lagrangian above. Measured (Clarabel, loaded 2-core machine): n=100, d=5,
#: 20 gates 0.1 s; n=400, d=10, 60 gates (7e5) 3.6 s, gap 1e-6, where the
#: augmented Lagrangian stops at max_iter with a gap of 0.8; n=1000, d=20,
#: 100 gates (6e6) 69 s and 1.0 GB; n=2000, d=50, 500 gates is 1.5e8.
CVXPY_MAX_NONZEROS = 8e6
#: The solvers of the gated program (besides "cvxpy").
GATED_SOLVERS = ("apg", "newton")
#: solver="auto", variant="exact", above that: ADMM (an n x n factor) up to this
#: many samples, the augmented Lagrangian beyond.
ADMM_MAX_SAMPLES = 8000
#: The validation options the plain-array shortcut (``_fast_validation``) honours.
_PLAIN_KWARGS = frozenset({"multi_output", "y_numeric", "dtype"})
#: Width of each parallel sub-network's first layer in the three-layer model.
DEEP_WIDTH = 4
#: The rows, gates and weighted loss every fit at any alpha shares
#: (``_BaseConvexReLU._program``); ``second`` is the three-layer model's
#: second-layer gates, else None.
_Program = namedtuple("_Program", "X Y rng gates second loss design")


def _gate_seed(random_state):
    """The seed of the gates' generator: the first draw of ``random_state``'s
    RandomState (an integer's is cached: seeding a RandomState costs 0.15 ms,
    a fifth of a 100 x 5 exact fit's time outside its solver)."""
    if isinstance(random_state, Integral):
        return _int_gate_seed(int(random_state))
    return check_random_state(random_state).randint(0, 2**31 - 1)


@lru_cache(maxsize=64)
def _int_gate_seed(seed):
    return check_random_state(seed).randint(0, 2**31 - 1)


def relu_alpha_max(X, y, gates, *, loss="squared", fit_intercept=True, sample_weight=None):
    """Smallest ``alpha`` at which the convex ReLU program has no neuron.

    It is the largest gate-wise dual norm ``max_j ||(D_j X)^T r||_2`` at the
    intercept-only residual ``r`` (the weighted loss gradient at the best
    constant predictor, or at zero without intercept).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training data, as the estimator sees it (intercept column excluded).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Encoded targets: real values (squared), +-1 (logistic), one-hot
        rows (multinomial).
    gates : ndarray of shape (n_features, n_gates)
        Gate vectors ``g_j``; the activation patterns are ``1[X g_j >= 0]``.
    loss : {"squared", "logistic", "multinomial"}, default="squared"
        Data term of the program.
    fit_intercept : bool, default=True
        Whether the program has an unpenalized intercept (the residual is
        then taken at the best constant, not at zero).
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights of the data term (weights equal to repetitions).

    Returns
    -------
    alpha_max : float
        The largest gate-wise dual norm.

    See Also
    --------
    ConvexReLURegressor : Its fitted ``alpha_max_`` is this value on its gates.
    sklearn_convexnn.alpha_max : The same threshold for the lifted-model estimators.

    Notes
    -----
    For the gated program this is exact. For the exact program it is an
    upper bound on the smallest such alpha (the cone multipliers can only
    lower the dual norms), so all weights vanish from it on as well.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.relu import relu_alpha_max
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    >>> relu_alpha_max(X, y, rng.standard_normal((3, 8))) > 0
    True
    """
    Y = np.asarray(y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    sw = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    masks = np.asarray(X @ gates) >= 0
    design = MaskedDesign(X, masks, Y.shape[1])
    return alpha_max(design, get_weighted_loss(loss, Y, sw / sw.sum()), fit_intercept)


class _BaseConvexReLU(BaseEstimator):
    """Parameters, fitting and the network shared by the regressor and classifier."""

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"}), None],
        "n_gates": [Interval(Integral, 1, None, closed="left")],
        "variant": [StrOptions({"gated", "exact"})],
        "n_layers": [Interval(Integral, 2, 3, closed="both")],
        "gate_sampling": [StrOptions(set(GATE_SAMPLING))],
        "linear_gate": ["boolean"],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "apg", "newton", "ipm", "admm",
                               "augmented_lagrangian", "cvxpy"})],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "memory_limit": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def _fit_encoded(self, X, Y, loss_name, sample_weight):
        # The whole fit (gate sampling, alpha_max, the solve, the network's
        # objective) under one thread policy: a product left to BLAS threads
        # wakes them, and they spin on after it (measured: a fifth of the CPU
        # time of a 1000 x 20, 100-gate fit went to a spinning BLAS thread).
        workers, one_blas_thread = self._thread_policy(X.shape, Y.shape[1])
        with single_blas_thread() if one_blas_thread else nullcontext():
            return self._fit_threads(X, Y, loss_name, sample_weight, workers)

    def _fit_threads(self, X, Y, loss_name, sample_weight, workers):
        if self.n_layers == 3 and self.variant == "exact":
            raise ValueError(
                "n_layers=3 supports variant='gated' only: the three-layer parallel "
                "network is fitted as the gated group lasso over pairs of patterns."
            )
        solver = self.solver
        if solver != "cvxpy" and solver != "auto" and (solver in GATED_SOLVERS) != (
                self.variant == "gated"):
            raise ValueError(
                f"solver={self.solver!r} does not solve variant={self.variant!r}: 'apg' "
                f"and 'newton' solve the gated program, 'ipm', 'admm' and "
                f"'augmented_lagrangian' the exact one ('cvxpy' both)."
            )
        pb = self._program(X, Y, loss_name, sample_weight)
        X, Y, gates, loss, design = pb.X, pb.Y, pb.gates, pb.loss, pb.design
        design.workers = workers  # gated products split over threads (_thread_policy)
        n, d = X.shape
        k = Y.shape[1]
        solver = self._pick_solver(solver, X, n, d, k, loss.name)
        amax = alpha_max(design, loss, self.fit_intercept)
        alpha = self.alpha
        if alpha is None:
            warnings.warn(
                f"alpha=None is deprecated for {type(self).__name__} and will be removed; "
                f"use alpha='auto' (the same value, a fraction of alpha_max_).",
                FutureWarning,
            )
            alpha = "auto"
        alpha = self._alpha_ratio * amax if alpha == "auto" else float(alpha)
        common = dict(fit_intercept=self.fit_intercept, tol=self.tol,
                      max_iter=self.max_iter, verbose=self.verbose, rng=pb.rng)
        if alpha >= amax:
            # Safe screening: at alpha >= alpha_max the intercept-only network
            # satisfies the optimality conditions (every gate-wise dual norm of
            # its residual is at most alpha), so no solver runs and the gap is 0
            # (the dual point is the loss gradient there: Fenchel-Young holds
            # with equality). A solver would stop at tol with tiny neurons.
            sol, solver = self._empty_solution(design, loss), "screening"
        else:
            sol, solver = self._solve(solver, design, loss, alpha, gates, X, common, amax)
        if self.variant == "gated":
            signs = np.ones(design.q)
            gate_of, output_of = design.gate_of, design.output_of
        else:
            signs = np.concatenate([np.ones(design.q), -np.ones(design.q)])
            gate_of = np.tile(design.gate_of, 2)
            output_of = np.tile(design.output_of, 2)
        hidden, output, index = neurons_from_weights(sol.W, signs, gate_of, output_of, k)
        intercept = sol.b if self.fit_intercept else np.zeros(k)

        self.gates_ = gates
        self.n_gates_ = gates.shape[1]
        self.hidden_weights_ = hidden
        self.neuron_gate_index_ = index
        self.n_neurons_ = hidden.shape[0]
        self._output = output
        self._intercept = np.asarray(intercept, dtype=float)
        if self.n_layers == 3:
            self.second_layer_gates_, self.second_layer_directions_ = pb.second
        # The objective of the network itself, recomputed on the data as given.
        penalty = float(np.sum(np.sqrt(np.sum(sol.W**2, axis=0))))
        objective = loss.value(self._forward(X)) + alpha * penalty
        self.objective_ = float(objective)
        self.lower_bound_ = float(min(sol.lower_bound, objective))
        self.dual_gap_ = self.objective_ - self.lower_bound_
        self.alpha_ = alpha
        self.alpha_max_ = amax
        self.n_iter_ = int(sol.n_iter)
        self.n_data_passes_ = int(design.n_passes)
        self.solver_ = solver
        rel = self.dual_gap_ / max(abs(self.objective_), 1e-12)
        # A solver that stopped short of "optimal" (out of iterations, stalled,
        # broke down) warns as soon as its certified gap misses tol; one that
        # claimed it, should the network's recomputed objective be past 10 tol.
        if rel > max(10 * self.tol, 1e-6) or (sol.status != "optimal" and rel > self.tol):
            warnings.warn(
                f"{type(self).__name__} ({self.variant}, solver {solver!r}) stopped with "
                f"status {sol.status!r} after {sol.n_iter} iterations at a certified "
                f"relative gap of {rel:.2e} (objective {self.objective_:.6g}, lower bound "
                f"{self.lower_bound_:.6g}); increase max_iter or tol.",
                ConvergenceWarning,
            )
        return self

    def _thread_policy(self, shape, k):
        """``(workers, one_blas_thread)`` for a fit on ``shape`` with ``k`` outputs.

        Small products gain nothing from BLAS threads and lose a lot when the
        cores are busy (measured: 0.08 ms single-threaded vs 15 ms threaded for
        a 569 x 30 x 100 product on a loaded 2-core machine); BLAS threads wait
        on spinning barriers, which a busy core stalls. The gated program on a
        machine of at most ``SPLIT_MAX_CORES`` cores instead splits each
        product over the cores on Python threads (``MaskedDesign.workers``)
        with one BLAS thread each, while a core is idle (``threads.core_free``):
        the halves meet on a lock, never on a spinning barrier. The shared
        controller is built once: threadpool_limits rescans the loaded
        libraries on every call (2.5 ms, a fifth of a 100 x 5 exact fit).
        """
        n, d = shape
        size = n * d * max(self.n_gates * k, 1)
        if self.variant != "gated":
            return 1, size < SMALL_PRODUCT
        cores = usable_cores()
        if 2 <= cores <= SPLIT_MAX_CORES:
            return cores, True
        return 1, size < GATED_SMALL_PRODUCT

    def _program(self, X, Y, loss_name, sample_weight):
        """What the fits at every alpha share: the weighted rows and the sampled gates.

        Rows of zero weight are dropped. The gates follow ``random_state``, so
        two calls with the same integer draw the same gates (what a path and
        :func:`~sklearn_convexnn.paths.alpha_max` rely on).
        """
        if sample_weight is None:
            sw = np.ones(X.shape[0])
        else:
            sw = _check_sample_weight(sample_weight, X, dtype=float)
            if np.any(sw < 0):
                raise ValueError("sample_weight must be nonnegative.")
            if not np.any(sw > 0):
                raise ValueError("sample_weight sums to zero: there is nothing to fit.")
            keep = sw > 0
            if not np.all(keep):
                X, Y, sw = X[keep], Y[keep], sw[keep]
        gen = np.random.default_rng(_gate_seed(self.random_state))
        second = None
        if self.n_layers == 3:
            first, G, q = sample_deep_gates(X, self.n_gates, self.gate_sampling, gen,
                                            DEEP_WIDTH)
            masks, kept = deep_gate_masks(X, first, G, q)
            gates = first[:, kept]
            second = (G[kept], q[kept])
        else:
            linear = self.linear_gate and self.variant == "gated"
            gates = sample_gates(X, self.n_gates - linear, self.gate_sampling, gen)
            if linear:
                # The zero gate: pattern 1[x.0 >= 0] = all ones, a linear neuron.
                gates = np.hstack([np.zeros((X.shape[1], 1)), gates])
            masks, kept = gate_masks(X, gates)
            gates = gates[:, kept]
        loss = get_weighted_loss(loss_name, Y, sw / sw.sum())
        return _Program(X, Y, gen, gates, second, loss, MaskedDesign(X, masks, Y.shape[1]))

    def _empty_solution(self, design, loss):
        """The intercept-only network as a solver result (all weights zero)."""
        columns = design.q if self.variant == "gated" else 2 * design.q
        b = loss.best_constant() if self.fit_intercept else np.zeros(design.k)
        value = float(loss.value(np.zeros((design.n, design.k)) + b))
        return ReLUSolution(W=np.zeros((design.d, columns)), b=np.asarray(b, dtype=float),
                            objective=value, lower_bound=value, n_iter=0, n_passes=0,
                            status="optimal")

    def _path_alpha_max(self, X, y, sample_weight=None):
        """alpha_max of the program a fit on ``(X, y)`` solves (its gates included).

        The hook :func:`sklearn_convexnn.paths.alpha_max` calls: the largest
        gate-wise dual norm at the intercept-only fit, on the gates this
        estimator's ``random_state`` draws.
        """
        X, y = check_X_y(X, y, accept_sparse=["csr", "csc"], dtype=float,
                         multi_output=not is_classifier(self),
                         y_numeric=not is_classifier(self))
        Y, loss_name = self._encode_targets(y)[:2]
        pb = self._program(X, Y, loss_name, sample_weight)
        return float(alpha_max(pb.design, pb.loss, self.fit_intercept))

    def _cvxpy_takes_exact(self, n, d, p, k):
        """Whether "auto" hands the exact program to cvxpy (small and within memory)."""
        return cvxpy_nonzeros(n, d, p, k, "exact") <= CVXPY_MAX_NONZEROS \
            and estimate_cvxpy_memory(n, d, p, k, "exact") <= self.memory_limit * 2**30

    def _pick_solver(self, solver, X, n, d, k, loss_name):
        """The solver "auto" stands for, after refusing what does not fit in memory."""
        p = self.n_gates
        cvxpy_bytes = estimate_cvxpy_memory(n, d, p, k, self.variant)
        fits_cvxpy = cvxpy_bytes <= self.memory_limit * 2**30
        fits_ipm = ipm_memory(n, d, p) <= self.memory_limit * 2**30
        if solver == "auto":
            if self.variant == "gated":
                solver = "newton" if n <= NEWTON_MAX_SAMPLES else "apg"
            elif loss_name in IPM_LOSSES and fits_ipm:
                return "ipm"
            elif self._cvxpy_takes_exact(n, d, p, k):
                return "cvxpy"
            elif admm_memory(n, d, p, k) <= self.memory_limit * 2**30 and n <= ADMM_MAX_SAMPLES:
                solver = "admm"
            else:
                solver = "augmented_lagrangian"
        if solver == "cvxpy":
            if not fits_cvxpy:
                raise ProblemTooLargeError(
                    f"solver='cvxpy' on the {self.variant} convex ReLU problem "
                    f"(n_samples={n}, n_features={d}, {p} gates, {k} outputs) needs about "
                    f"{cvxpy_bytes / 2**30:.2f} GiB, above memory_limit={self.memory_limit} "
                    f"GiB; use solver='auto' or reduce n_gates."
                )
            return solver
        if solver == "ipm":
            if loss_name not in IPM_LOSSES:
                raise ValueError(
                    f"solver='ipm' handles the squared and logistic losses (separable over "
                    f"outputs), not the {loss_name} loss; use solver='admm' or "
                    f"multi_class='ovr'.")
            if not fits_ipm:
                raise ProblemTooLargeError(
                    f"solver='ipm' on the exact convex ReLU problem (n_samples={n}, "
                    f"n_features={d}, {p} gates) needs about "
                    f"{ipm_memory(n, d, p) / 2**30:.2f} GiB, above memory_limit="
                    f"{self.memory_limit} GiB; use solver='augmented_lagrangian'.")
            return solver
        if solver == "admm" and admm_memory(n, d, p, k) > self.memory_limit * 2**30:
            raise ProblemTooLargeError(
                f"solver='admm' on the exact convex ReLU problem (n_samples={n}, "
                f"n_features={d}, {p} gates, {k} outputs) needs about "
                f"{admm_memory(n, d, p, k) / 2**30:.2f} GiB (an n x n factor), above "
                f"memory_limit={self.memory_limit} GiB; use solver='augmented_lagrangian'."
            )
        check_memory(n, d, p, k, self.variant, self.memory_limit, X)
        return solver

    def _solve(self, solver, design, loss, alpha, gates, X, common, amax=None):
        if solver == "cvxpy":
            return solve_relu_cvxpy(
                design, loss, alpha, self.variant, fit_intercept=self.fit_intercept,
                tol=self.tol, gates=gates, gate_images=np.asarray(X @ gates),
                verbose=self.verbose), solver
        if self.variant == "gated":
            return solve_gated(design, loss, alpha, newton=solver == "newton", amax=amax,
                               **common), solver
        if solver == "ipm":
            sol = solve_exact_ipm(design, loss, alpha, gates, **common,
                                  memory_limit=self.memory_limit * 2**30)
            if sol is not None:
                return sol, solver
            # Cones without interior at the gates (a nonzero row with x . g_j = 0;
            # zero rows stay with the IPM): cvxpy where auto would take it, else ADMM.
            if self._cvxpy_takes_exact(*X.shape, gates.shape[1], loss.Y.shape[1]):
                return self._solve("cvxpy", design, loss, alpha, gates, X, common)
            solver = "admm"
        if solver == "admm":
            return solve_exact_admm(design, loss, alpha, gates, np.asarray(X @ gates),
                                    **common), solver
        return solve_exact(design, loss, alpha, gates, np.asarray(X @ gates), **common), solver

    # --------------------------------------------------------------- network
    def _forward(self, X):
        """Raw outputs (n, k) of the recovered network."""
        gates = self.gates_[:, self.neuron_gate_index_]
        if self.n_layers == 3:
            return deep_forward(X, self.hidden_weights_, self._output, self._intercept, gates,
                                self.second_layer_gates_[self.neuron_gate_index_],
                                self.second_layer_directions_[self.neuron_gate_index_])
        if self.variant == "exact":
            return relu_forward(X, self.hidden_weights_, self._output, self._intercept)
        return gated_forward(X, self.hidden_weights_, self._output, self._intercept, gates)

    def _publish_outputs(self, single):
        """Output weights and intercept in the shape of the targets (1-d for one output)."""
        self.output_weights_ = self._output[:, 0] if single else self._output
        self.intercept_ = float(self._intercept[0]) if single else self._intercept
        self._single_output = single

    def _network_output(self, X):
        check_is_fitted(self, "hidden_weights_")
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"])
        return self._forward(X)

    def _validate(self, X, y, **kwargs):
        # What sklearn would return unchanged, without its overhead (fits that
        # reset the fitted features and ask for float64 X only).
        plain = None if set(kwargs) - _PLAIN_KWARGS or kwargs.get("dtype", float) not in (
            float, np.float64) else plain_X_y(X, y)
        if plain is not None:
            set_plain_features(self, X)
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                 ensure_min_samples=2, **kwargs)
        _check_feature_scale(X)
        return X, y

    def _validate_params(self):
        validate_params_once(self, super()._validate_params)

    #: The name the CV estimators (``_cv.LiftedNetworkCVMixin``) validate by.
    _validate_X_y = _validate

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMS_DOC = """
    alpha : float or "auto", default="auto"
        Group-lasso weight (per-sample-averaged loss, like Lasso). Equals
        weight decay ``alpha / 2`` on both layers of the non-convex network.
        "auto": a fixed fraction of ``alpha_max_`` (0.07 for the regressor,
        0.01 for the classifier, tuned on diabetes and breast_cancer), so
        the default follows the scale of the target; the value used is
        ``alpha_``. None is a deprecated alias of "auto" (FutureWarning).
    n_gates : int, default=100
        Number of sampled gate vectors; duplicate and empty patterns are
        dropped, so ``n_gates_`` may be smaller.
    variant : {"gated", "exact"}, default="gated"
        "gated": the gated ReLU network ``sum_j 1[x.g_j >= 0] (x.w_j)``;
        "exact": a true ReLU network (cone constraints).
    n_layers : {2, 3}, default=2
        3: the path-regularized three-layer parallel network (Ergen &
        Pilanci), fitted as the gated group lasso over products of a
        first-layer and a second-layer pattern (``variant="gated"`` only).
    gate_sampling : {"gaussian", "data"}, default="gaussian"
        Gate vectors with standard normal entries, or differences of two
        random training rows (follows the data's own scale).
    linear_gate : bool, default=True
        Make the first of the ``n_gates`` the zero vector, whose pattern
        ``1[x.0 >= 0]`` lets every sample through: a linear neuron ``x.w``,
        so that the network contains the linear model (the convex program
        then never fits worse than the group-lasso linear fit). Only for
        ``variant="gated"`` with ``n_layers=2``; ignored otherwise (on the
        exact variant's cone the all-ones pattern would need ``X u >= 0``
        on every sample). Measured on diabetes (5-fold R^2 after
        StandardScaler, gate draws ``random_state=0..4``): 0.477-0.496
        without it, 0.490-0.498 with it (RidgeCV 0.488); breast_cancer
        accuracy 0.977-0.984 (LogisticRegression 0.979).
    fit_intercept : bool, default=True
        Fit an output intercept ``b``: an extra constant column that is
        neither gated nor penalized. Neurons have no biases.
    solver : {"auto", "apg", "newton", "ipm", "admm", "augmented_lagrangian", "cvxpy"}, \
default="auto"
        "apg": accelerated proximal gradient (restarts, line search) for the
        gated program; "newton": APG, then, once the certified gap is below
        5% and a flop count predicts them cheaper than the rest of the APG
        run (squared loss: also below 30% on an active set unchanged for 20
        iterations, or at any gap after 5 such iterations when ``alpha`` is
        below 0.01 ``alpha_max_`` and the sizes favour it), Newton steps on
        the active groups (one n x n Cholesky factor each, or conjugate
        gradients on the last factor while the active set holds; memory
        O(n^2); groups enter and leave by their dual norms),
        which reach gaps of 1e-7 in a handful of steps (squared and
        logistic losses; the multinomial loss stays with APG); for the
        exact program "ipm" (a primal-dual interior-point method whose
        Newton systems are 2 p d x 2 p d, or n x n by Woodbury when
        ``p d > n``; 15-35 iterations measured; squared and logistic
        losses, one output at a time; memory about
        ``8 (n d^2 + 24 n p + n p d + 2 n^2)`` bytes per output), "admm"
        (Bai, Gautam & Sojoudi's splitting: one n x n factorization, then
        O(n d p k) per iteration, memory about ``24 n^2`` bytes) or
        "augmented_lagrangian" (the same APG on the inner problems, memory
        O(n p k)); "cvxpy": either program written in cvxpy and solved by an
        interior-point method (Clarabel first), memory about
        ``400 * 3 n p k d`` bytes (``p = n_gates``, ``k`` outputs; ``n p k
        d`` for gated). "auto": for ``variant="gated"`` "newton" up to 4000
        samples, "apg" above; for ``variant="exact"`` "ipm" for the squared
        and logistic losses when its memory fits ``memory_limit`` (measured
        against cvxpy, benchmarks/bench_relu.py, CPU time: 12-13x faster at
        n=100, d=5, 20 gates; 15x at n=2000, d=50, 100 gates), else (multinomial loss) "cvxpy" when
        ``3 n p k d <= 8e6`` (about a minute at n=1000, d=20, 100 gates)
        and that memory fits ``memory_limit``, else "admm" up to 8000
        samples when its factor fits, else "augmented_lagrangian", and
        ``ProblemTooLargeError`` when that does not fit either. The solver
        used is ``solver_``.
    tol : float, default=1e-4
        Target certified relative duality gap ``(objective - bound) / objective``.
    max_iter : int, default=1000
        Maximum number of APG iterations (breast_cancer and diabetes after
        StandardScaler reach the default ``tol`` in under 200).
    memory_limit : float, default=4.0
        GiB the solver may allocate; larger problems raise
        ``ProblemTooLargeError`` before anything is built.
    verbose : int, default=0
        >= 1 prints one line per iteration (objective, bound, gap, width).
    random_state : int, RandomState instance or None, default=None
        Seeds the gates."""

_ATTRS_DOC = """
    gates_ : ndarray of shape (n_features, n_gates_)
        Gate vectors of the distinct, non-empty patterns ``1[X g >= 0]``.
    n_gates_ : int
    hidden_weights_ : ndarray of shape (n_neurons_, n_features)
    neuron_gate_index_ : ndarray of shape (n_neurons_,)
        Column of ``gates_`` that gates each neuron (gated networks).
    n_neurons_ : int
    objective_ : float
        Training objective of the fitted network, on the data as given.
    lower_bound_ : float
        Certified lower bound on the optimum of the convex program with these
        gates (from a dual point); ``lower_bound_ <= objective_``.
    dual_gap_ : float
    alpha_ : float
        The ``alpha`` used.
    alpha_max_ : float
        Smallest ``alpha`` giving the empty network for these gates.
    n_iter_ : int
    n_data_passes_ : int
        Products with ``X`` or ``X^T`` over the whole fit.
    solver_ : str
        The solver that ran; "screening" when ``alpha >= alpha_max_`` (the
        intercept-only network is then optimal and no solver runs).
    second_layer_gates_, second_layer_directions_ : ndarray
        ``n_layers=3`` only: each pattern's second-layer gate
        ``1[relu(x G) . q >= 0]`` as ``G`` (n_gates_, n_features, 4) and ``q``
        (n_gates_, 4).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)"""


class ConvexReLURegressor(NetworkRegressorMixin, _BaseConvexReLU):
    #: alpha='auto': this fraction of alpha_max. Tuned on diabetes (5-fold R^2
    #: after StandardScaler, benchmarks/bench_relu.py): 0.05-0.1 best.
    _alpha_ratio = 0.07

    __doc__ = f"""Two-layer (or three-layer parallel) ReLU network trained by convex optimization.

    Minimizes, over the patterns of the sampled gates ``g_j``
    (``D_j = diag(1[X g_j >= 0])``)::

        gated: (1/(2n)) ||sum_j D_j X w_j + b - y||^2 + alpha sum_j ||w_j||_2
        exact: (1/(2n)) ||sum_j D_j X (u_j - v_j) + b - y||^2
               + alpha sum_j (||u_j||_2 + ||v_j||_2),  (2 D_j - I) X u_j >= 0,
               (2 D_j - I) X v_j >= 0

    (weighted mean with ``sample_weight``; one group per gate and output for
    several outputs) and recovers the network: neuron ``m`` has hidden
    weights ``h_m = w / sqrt(||w||)`` and output weight ``sqrt(||w||)``
    (``-sqrt(||v||)`` for ``v``), so ``predict`` is
    ``sum_m a_m relu(x.h_m) + b`` (exact) or
    ``sum_m a_m 1[x.g_m >= 0] (x.h_m) + b`` (gated), on the columns as given.

    Parameters
    ----------{_PARAMS_DOC}

    Attributes
    ----------
    output_weights_ : ndarray of shape (n_neurons_,) or (n_neurons_, n_outputs)
    intercept_ : float or ndarray of shape (n_outputs,){_ATTRS_DOC}

    See Also
    --------
    ConvexReLUClassifier : the same networks under the logistic loss.
    sklearn.neural_network.MLPRegressor : the same network trained by SGD.

    References
    ----------
    M. Pilanci and T. Ergen, "Neural Networks are Convex Regularizers: Exact
    Polynomial-time Convex Optimization Formulations for Two-layer Networks",
    ICML 2020. A. Mishkin, A. Sahiner and M. Pilanci, "Fast Convex
    Optimization for Two-Layer ReLU Networks", ICML 2022. T. Ergen and
    M. Pilanci, "Path Regularization: A Convexity and Sparsity Inducing
    Regularization for Parallel ReLU Networks", NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexReLURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 3))
    >>> y = np.maximum(X @ [1.0, -2.0, 0.5], 0)
    >>> reg = ConvexReLURegressor(alpha=1e-3, n_gates=50, random_state=0).fit(X, y)
    >>> reg.lower_bound_ <= reg.objective_
    True
    >>> bool(reg.score(X, y) > 0.95)
    True
    """

    def __init__(self, *, alpha="auto", n_gates=100, variant="gated", n_layers=2,
                 gate_sampling="gaussian", linear_gate=True, fit_intercept=True,
                 solver="auto", tol=1e-4,
                 max_iter=1000, memory_limit=4.0, verbose=0, random_state=None):
        self.alpha = alpha
        self.n_gates = n_gates
        self.variant = variant
        self.n_layers = n_layers
        self.gate_sampling = gate_sampling
        self.linear_gate = linear_gate
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights equal to repetitions.

        Returns
        -------
        self : ConvexReLURegressor
        """
        X, y = self._validate(X, y, multi_output=True, y_numeric=True, dtype=float)
        Y, loss, single = self._encode_targets(y)
        self._fit_encoded(X, Y, loss, sample_weight)
        self._publish_outputs(single)
        return self

    def _encode_targets(self, y):
        """(Y of shape (n, k), loss name, whether y was one column)."""
        Y = np.asarray(y, dtype=float)
        single = Y.ndim == 1
        return (Y[:, None] if single else Y), "squared", single


class ConvexReLUClassifier(NetworkClassifierMixin, _BaseConvexReLU):
    #: alpha='auto': this fraction of alpha_max. Tuned on breast_cancer (5-fold
    #: accuracy after StandardScaler): 0.003-0.01 best, 0.1 underfits.
    _alpha_ratio = 0.01

    __doc__ = f"""ReLU network classifier trained by convex optimization.

    The programs of :class:`ConvexReLURegressor` with the mean logistic loss
    (two classes: one output, labels +-1), and for more classes the
    multinomial (softmax) loss over one output per class, or one logistic
    problem per class (``multi_class="ovr"``).

    Parameters
    ----------{_PARAMS_DOC}
    multi_class : {{"multinomial", "ovr"}}, default="multinomial"

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    output_weights_ : ndarray of shape (n_neurons_,) or (n_neurons_, n_classes)
    intercept_ : float or ndarray of shape (n_classes,){_ATTRS_DOC}

    See Also
    --------
    ConvexReLURegressor : the regression counterpart.
    sklearn.neural_network.MLPClassifier : the same network trained by SGD.

    References
    ----------
    M. Pilanci and T. Ergen, ICML 2020; A. Mishkin, A. Sahiner and
    M. Pilanci, ICML 2022 (see :class:`ConvexReLURegressor`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexReLUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 2))
    >>> y = np.abs(X[:, 0]) > np.abs(X[:, 1])
    >>> clf = ConvexReLUClassifier(alpha=1e-4, n_gates=50, random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints = {
        **_BaseConvexReLU._parameter_constraints,
        "multi_class": [StrOptions({"multinomial", "ovr"})],
    }

    def __init__(self, *, alpha="auto", n_gates=100, variant="gated", n_layers=2,
                 gate_sampling="gaussian", linear_gate=True, fit_intercept=True,
                 solver="auto", tol=1e-4,
                 max_iter=1000, memory_limit=4.0, multi_class="multinomial", verbose=0,
                 random_state=None):
        self.alpha = alpha
        self.n_gates = n_gates
        self.variant = variant
        self.n_layers = n_layers
        self.gate_sampling = gate_sampling
        self.linear_gate = linear_gate
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.memory_limit = memory_limit
        self.multi_class = multi_class
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights equal to repetitions.

        Returns
        -------
        self : ConvexReLUClassifier
        """
        X, y = self._validate(X, y, dtype=float)
        Y, loss, classes = self._encode_targets(y)
        self._fit_encoded(X, Y, loss, sample_weight)
        self.classes_ = classes
        self._publish_outputs(Y.shape[1] == 1)
        return self

    def _encode_targets(self, y):
        """(Y of shape (n, k), loss name, the classes)."""
        classes, Y, loss = encode_classes(y, "logistic")
        if loss == "multinomial" and self.multi_class == "ovr":
            Y, loss = 2 * Y - 1, "logistic"  # one +-1 column per class
        return Y, loss, classes

    def _multinomial(self):
        return self.multi_class == "multinomial"


#: Entries of X beyond this size (or nonzero ones below its inverse) are
#: refused: the squared residuals and the gate products overflow or vanish in
#: double precision, and the fit would be silently wrong.
FEATURE_SCALE_LIMIT = 1e100


def _check_feature_scale(X):
    data = X.data if sp.issparse(X) else np.asarray(X)
    top = float(np.max(np.abs(data), initial=0.0))
    if top > FEATURE_SCALE_LIMIT or 0.0 < top < FEATURE_SCALE_LIMIT**-1:
        raise ValueError(
            f"The features reach {top:.1e}: outside [1e-100, 1e100] the network's outputs "
            f"overflow or vanish in double precision. Scale X (e.g. StandardScaler) before "
            f"fitting."
        )
