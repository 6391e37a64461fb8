"""Docstring fragments shared by the estimator modules (one floor below them).

Estimator modules format these into their class docstrings, so a parameter
shared by several estimators is documented once and no estimator module
imports a sibling for its prose.
"""

__all__ = [
    "ALPHA_DOC",
    "COMMON_PARAMS_DOC",
    "EXTRAPOLATION_DOC",
    "FITTED_DOC",
    "REF_CNN_RELAXATION",
    "REF_SPECTRAHEDRA",
    "REGRESSOR_ALPHA_DOC",
    "WARM_START_DOC",
]

#: The ``alpha`` entry; regressors default to "auto" (see ``REGRESSOR_ALPHA``).
ALPHA_DOC = """
    alpha : float or "auto", default=1e-2
        Regularization strength: the l1 weight on the output layer. The data
        term is an average over samples (as in Lasso), so a good ``alpha``
        does not move with the number of samples. "auto" is 5% of
        ``alpha_max``, the smallest ``alpha`` at which the network has no
        neuron (see ``sklearn_convexnn.paths.alpha_max``), computed on the
        training data, so it follows the scale of the targets; the value
        used is stored in ``alpha_``."""

#: Regressors default to alpha="auto": the squared loss scales with y^2, so a
#: fixed alpha is meaningless on raw targets. 5% of alpha_max, measured by
#: 5-fold CV R^2 after StandardScaler on raw targets: diabetes 0.497 (Ridge
#: 0.490; fractions 1%/3%/10%: 0.492/0.501/0.489), linnerud -1.87 (Ridge
#: -2.47; 1%/3%/10%: -6.36/-3.74/-1.86).
REGRESSOR_ALPHA_DOC = ALPHA_DOC.replace('default=1e-2', 'default="auto"')

COMMON_PARAMS_DOC = """
    activation : {"relu-approx", "square"} or tuple (a, b, c), default="relu-approx"
        The quadratic activation ``sigma(t) = a t^2 + b t + c``. "relu-approx"
        is (0.09, 0.5, 0.47), a quadratic that tracks ReLU on standardized
        data; "square" is (1, 0, 0).
    fit_intercept : bool, default=True
        Fit an unpenalized output bias.
    solver : {"auto", "cvxpy", "lowrank", "proxgrad"}, default="auto"
        "cvxpy" solves the SDP exactly through cvxpy (interior point);
        "lowrank" trains explicit neurons by L-BFGS and adds the neuron the
        exact dual check finds until the certified gap closes (smooth losses
        only: squared, huber, logistic; memory linear in the data);
        "proxgrad" runs accelerated proximal gradient on the full lifted
        matrices, then an L-BFGS polish of their neurons (smooth losses;
        best with many samples per lifted entry and for pooled CNNs);
        "auto" takes "proxgrad" for smooth losses past a measured size
        (``n_samples * n_features**2 * n_outputs > 2e5``) when there are
        several pooling regions or ``n_samples >= 4 (n_features + 1)**2``,
        "lowrank" for the other smooth problems past that size or whenever
        the interior-point solver would not fit ``memory_limit``, and
        "cvxpy" otherwise.
    cvxpy_solver : str, default=None
        The cvxpy solver to try first ("CLARABEL", "SCS", "MOSEK"); ``None`` means
        Clarabel. When it fails, the other installed SDP solvers that fit
        ``memory_limit`` are tried and a warning names the one that
        succeeded.
    max_iter : int, default=500
        Iteration limit of the solver (for "lowrank": rounds of L-BFGS
        polishing followed by the certificate).
    tol : float, default=1e-4
        Target certified relative gap ``(objective_ - lower_bound_) /
        objective_`` (like Lasso's ``tol`` on its duality gap). "lowrank"
        stops as soon as it is reached (at least 1e-6); "proxgrad" too (its
        certificate rarely resolves gaps below 1e-8: a smaller ``tol`` runs
        its polish to ``max_iter``, which still sharpens the network); the
        interior-point solvers run to their own tolerance ``min(tol, 1e-7)``. A
        ``ConvergenceWarning`` carrying the gap is raised when the fitted
        network's certified gap exceeds ``2 * tol`` (e.g. ``max_iter``
        stopped first).
    memory_limit : float, default=4.0
        Memory budget in GiB. Each solver's allocation is estimated before
        anything is built (interior point: the KKT factor of its PSD cones,
        growing like ``n_features**4``; lowrank: the data and its active
        neurons); a problem no allowed solver fits is refused with a
        ``ProblemTooLargeError`` naming the estimate and the setting that
        fits.
    verbose : int, default=0
        1 prints one line per round of the "lowrank" solver (round,
        objective, lower bound, gap, width) and a summary per fit; 2 also
        the cvxpy solver's own log.
    random_state : None, default="deprecated"
        Deprecated (no effect: every solver here is deterministic); will be
        removed in 0.3. Setting it raises a ``FutureWarning``."""

EXTRAPOLATION_DOC = """
    extrapolation : {"clip", "none"}, default="clip"
        What a neuron does on inputs outside the training range. "clip"
        holds each neuron's pre-activation ``u . x`` within the range it took
        on the training data (stored in ``preactivation_range_``), so the
        quadratic activation cannot blow up on far-away points; the fitted
        network and its certificate on the training data are unchanged.
        "none" evaluates the polynomial as is."""

WARM_START_DOC = """
    warm_start : bool, default=False
        With the "lowrank" solver, start from the previous fit's network (for
        instance along a path of decreasing ``alpha``); ignored by "cvxpy"."""

FITTED_DOC = """
    hidden_weights_ : ndarray of shape (n_neurons, n_features)
        First-layer weights, one unit-norm row per neuron.
    n_neurons_ : int
        Number of neurons of the recovered network (at most 2 (d + 1) per
        output).
    preactivation_range_ : ndarray of shape (n_neurons, 2)
        Smallest and largest pre-activation of each neuron on the training
        data (used by ``extrapolation="clip"``).
    alpha_ : float
        The regularization strength used (``alpha``, or its value for
        ``alpha="auto"``).
    objective_ : float
        Training objective of the fitted network (computed from its weights).
    lower_bound_ : float
        Certified lower bound on the optimal objective of any network of this
        kind and any width (weak duality with the exact dual check).
    dual_gap_ : float
        ``objective_ - lower_bound_``.
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that produced the network, e.g. "cvxpy/CLARABEL".
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings."""

REF_SPECTRAHEDRA = """
    .. [1] B. Bartan and M. Pilanci, "Neural Spectrahedra and Semidefinite
       Lifts: Global Convex Optimization of Polynomial Activation Neural
       Networks in Fully Polynomial-Time", arXiv:2101.02429, 2021."""

REF_CNN_RELAXATION = """
    .. [2] B. Bartan and M. Pilanci, "Convex Relaxations of Convolutional
       Neural Nets", IEEE ICASSP, 2019."""
