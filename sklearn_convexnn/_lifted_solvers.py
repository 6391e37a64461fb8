"""Which solver fits the lifted problem, and one adapter per solver.

:class:`LiftedSolverMixin` picks the solver (``solver="auto"`` by problem
size and the memory budget, checked before anything is built, see
``_solvers/lifted/memory.py``) and runs it through one adapter per solver,
``_solve_<name>(blocks, Y, loss, activation, alpha=None, scale=1.0)``,
returning a :class:`NetworkFit`; :func:`certify_network` evaluates and
certifies what a solver returned. A new solver adds a ``_solve_<name>``
method, its name in ``SOLVER_NAMES`` and, if ``"auto"`` should pick it, a
rule in ``LiftedSolverMixin._auto_solver``.
"""

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._solvers.lifted.certificate import (
    certified_lower_bound,
    network_from_lifted,
    relative_gap,
)
from ._solvers.lifted.cvxpy_backend import cvxpy_solvers_within, solve_lifted_cvxpy
from ._solvers.lifted.lifted import network_forward
from ._solvers.lifted.lowrank import solve_lifted_lowrank
from ._solvers.lifted.memory import (
    estimate_cvxpy_bytes,
    estimate_lowrank_bytes,
    format_bytes,
    interior_point,
)
from ._solvers.lifted.proxgrad import estimate_proxgrad_bytes, solve_lifted_proxgrad
from ._solvers.lifted.refine import (
    REFINE_BELOW,
    REFINE_CERTIFIED,
    refinable,
    refine_network,
)
from .exceptions import ProblemTooLargeError

__all__ = ["SOLVER_NAMES", "LiftedSolverMixin", "NetworkFit", "ProblemSize", "certify_network",
           "refine_fit"]

#: Relative output-weight size below which a recovered neuron is dropped.
PRUNE_RTOL = 1e-7
#: solver="auto" takes the lowrank solver once the lifted data (n * sum p^2 *
#: outputs entries) passes this size; below it cvxpy/Clarabel is as fast
#: (crossover measured by benchmarks/bench_polynet.py).
LOWRANK_CROSSOVER = 2e5
#: The lowrank solver's target relative gap is max(tol, this): below it the
#: certificate sinks into rounding.
LOWRANK_MIN_TOL = 1e-6
#: The interior-point solvers run to at most this tolerance (a few more
#: iterations of a quadratically converging method), tighter if ``tol`` is.
CVXPY_MAX_TOL = 1e-7
#: The solvers of the lifted model ("proxgrad" plugs in beside them).
SOLVER_NAMES = {"auto", "cvxpy", "lowrank", "proxgrad"}
#: "auto" takes proxgrad past LOWRANK_CROSSOVER for several pooling regions
#: (CNNs), or when the lifted map is injective with room to spare, n >=
#: PROXGRAD_INJECTIVE * (p + 1)^2 (strongly convex: tens of iterations);
#: measured by benchmarks/bench_polynet.py and bench_cnn.py.
PROXGRAD_INJECTIVE = 4


@dataclass
class NetworkFit:
    """What a solver hands back to the estimator: a network and its story.

    ``theta`` is the solver's dual point for the certificate (or None);
    ``lower_bound`` a bound the solver certified itself (``-inf`` if none).
    """

    neurons: np.ndarray
    weights: np.ndarray
    block_index: np.ndarray
    intercept: np.ndarray
    n_iter: int = 0
    status: str = "optimal"
    solver: str = ""
    theta: object = None
    lower_bound: float = -np.inf


@dataclass(frozen=True)
class ProblemSize:
    """Sizes that decide memory: samples, rows a neuron sees, block dims, outputs."""

    n_samples: int
    n_rows: int
    dims: tuple
    n_outputs: int

    def describe(self):
        blocks = f", {len(self.dims)} pooling regions" if len(self.dims) > 1 else ""
        rows = f", {self.n_rows} patch rows" if self.n_rows != self.n_samples else ""
        return (f"n_samples={self.n_samples}{rows}, neuron dimension {max(self.dims)}"
                f"{blocks}, {self.n_outputs} output(s)")


def _kept(fit):
    """Mask of the neurons whose output weight is not negligible (``PRUNE_RTOL``)."""
    big = np.abs(fit.weights).max(axis=1, initial=0.0)
    return big > PRUNE_RTOL * big.max(initial=0.0)


def certify_network(fit, blocks, Y, loss, activation, alpha, fit_intercept, neuron_set):
    """Prune a solver's network, evaluate it and certify it.

    Returns ``(neurons, weights, block_index, objective, lower_bound)``; the
    bound is the best of the solver's own and the one certificate routine
    applied to every dual point at hand (the solver's, and the loss gradient
    at the pruned network), never above the objective.
    """
    keep = _kept(fit)
    neurons, weights, index = fit.neurons[keep], fit.weights[keep], fit.block_index[keep]
    Yhat = network_forward(blocks, neurons, weights, index, fit.intercept, activation)
    objective = loss.value(Yhat, Y) + alpha * float(np.abs(weights).sum())
    lower = fit.lower_bound
    if neuron_set is not None:
        duals = [loss.gradient(Yhat, Y)] + ([fit.theta] if fit.theta is not None else [])
        lower = max([lower] + [
            certified_lower_bound(blocks, Y, loss, activation, alpha, t, neuron_set,
                                  fit_intercept)
            for t in duals
        ])
    return neurons, weights, index, float(objective), float(min(lower, objective))


def refine_fit(fit, blocks, Y, loss, activation, alpha, fit_intercept, neuron_set, tol):
    """``fit`` pruned as ``certify_network`` prunes it and refined by Newton on its
    support (``_solvers.lifted.refine``); None unless that converged and the
    refined network is certified within ``max(tol, REFINE_CERTIFIED)`` (a
    support that misses a neuron converges too, to the optimum without it)."""
    keep = _kept(fit)
    refined = refine_network(blocks, Y, loss, activation, alpha, fit.neurons[keep],
                             fit.weights[keep], fit.block_index[keep],
                             np.atleast_1d(fit.intercept), fit_intercept)
    if refined is None:
        return None
    neurons, weights, index, intercept = refined
    fit = dataclasses.replace(fit, neurons=neurons, weights=weights, block_index=index,
                              intercept=intercept, theta=None, lower_bound=-np.inf)
    objective, lower = certify_network(fit, blocks, Y, loss, activation, alpha, fit_intercept,
                                       neuron_set)[3:]
    if not relative_gap(objective, lower) <= max(tol, REFINE_CERTIFIED):
        return None
    return dataclasses.replace(fit, lower_bound=lower)


class LiftedSolverMixin:
    """Solver choice under the memory budget, and one adapter per solver."""

    #: Estimators that set this refine their networks by Newton on the
    #: support when ``tol`` is below ``REFINE_BELOW`` (see ``_solve_to_tol``).
    _refine_tight = False

    def _solve_to_tol(self, solve, blocks, Y, loss, activation, alpha, scale):
        """The adapter ``solve`` run to ``self.tol``.

        Below ``REFINE_BELOW`` (what the certificates resolve) an estimator
        with ``_refine_tight`` stops the solver there and lets Newton on the
        network's support take it to rounding (``refine_fit``): the optimum
        itself, not a point of the objective's flat bottom, so the same
        problem written differently (rows repeated or weighted, reordered)
        gives the same network. Where Newton fails the solver runs to
        ``tol``; problems too large for the dense Newton steps (``refinable``)
        are not refined.
        """
        refine = self._refine_tight and self._constraint == "sphere" and loss.smooth \
            and self.tol < REFINE_BELOW \
            and refinable(*Y.shape, max(b.dim for b in blocks), len(blocks))
        if not refine:
            return solve(blocks, Y, loss, activation, alpha=alpha, scale=scale)
        args = (blocks, Y, loss, activation, alpha, self.fit_intercept, self._neuron_set(),
                self.tol)
        refined = refine_fit(solve(blocks, Y, loss, activation, alpha=alpha, scale=scale,
                                   tol=REFINE_BELOW), *args)
        if refined is None and self.solver == "auto" and solve != self._solve_proxgrad:
            # An interior-point network carries small spurious neurons (and
            # Clarabel stops 'inaccurate' on some of these problems): proxgrad's
            # network, of the optimum's rank, is the better start.
            refined = refine_fit(self._solve_proxgrad(blocks, Y, loss, activation,
                                                      alpha=alpha, scale=scale,
                                                      tol=REFINE_BELOW), *args)
        if self.verbose:
            print(f"[{type(self).__name__}] Newton refinement on the support: "
                  f"{'failed, solving to tol' if refined is None else 'certified'}")
        if refined is None:
            return solve(blocks, Y, loss, activation, alpha=alpha, scale=scale)
        return refined

    def _budget(self):
        return self.memory_limit * 2**30

    def _choose_solver(self, size, loss):
        """The solver to run, checked against ``memory_limit`` before anything is built."""
        budget = self._budget()
        smooth = loss.smooth and self._constraint == "sphere"
        lowrank_need = estimate_lowrank_bytes(size.n_rows, size.dims, size.n_outputs)

        def cvxpy_fitting():
            return cvxpy_solvers_within(size.n_samples, size.n_rows, list(size.dims),
                                        size.n_outputs, budget)

        # cvxpy's solver list is slow to ask for (milliseconds; a path asks
        # at every alpha): lowrank and proxgrad need it only to word a refusal.
        if self.solver == "lowrank":
            if self._constraint != "sphere":
                raise ValueError(
                    f"solver='lowrank' handles the sphere constraint only; "
                    f"{type(self).__name__} needs solver='cvxpy' or 'auto'."
                )
            if lowrank_need > budget:
                self._refuse(size, "lowrank", lowrank_need, cvxpy_fitting(), False)
            return "lowrank"
        if self.solver == "proxgrad":
            if not smooth:
                raise ValueError(
                    f"solver='proxgrad' needs the sphere constraint and a smooth loss; "
                    f"{type(self).__name__} with loss {loss.name!r} needs solver='cvxpy' "
                    f"or 'auto'."
                )
            need = estimate_proxgrad_bytes(size.n_samples, size.n_rows, size.dims,
                                           size.n_outputs)
            if need > budget:
                self._refuse(size, "proxgrad", need, cvxpy_fitting(),
                             lowrank_need <= budget)
            return "proxgrad"
        if self.solver == "auto" and smooth and self._proxgrad_wins(size) and \
                estimate_proxgrad_bytes(size.n_samples, size.n_rows, size.dims,
                                        size.n_outputs) <= budget:
            return "proxgrad"
        fitting = cvxpy_fitting()
        if self.solver == "auto":
            solver = self._auto_solver(size, smooth, lowrank_need <= budget, fitting)
            if solver is None:
                need = lowrank_need if smooth else min(
                    estimate_cvxpy_bytes(size.n_samples, size.n_rows, list(size.dims),
                                         size.n_outputs, name) for name in ("CLARABEL", "SCS"))
                self._refuse(size, "auto", need, fitting, False)
            return solver
        explicit = self.cvxpy_solver is not None and str(self.cvxpy_solver).upper()
        if self.solver == "cvxpy" and (not fitting or (explicit and explicit not in fitting
                                                       and explicit in _installed())):
            need = estimate_cvxpy_bytes(size.n_samples, size.n_rows, list(size.dims),
                                        size.n_outputs, self.cvxpy_solver)
            self._refuse(size, "cvxpy", need, fitting, smooth and lowrank_need <= budget)
        return self.solver

    @staticmethod
    def _proxgrad_wins(size):
        entries = size.n_samples * sum(p * p for p in size.dims) * size.n_outputs
        q = max(size.dims) + 1
        return entries > LOWRANK_CROSSOVER and len(set(size.dims)) == 1 and (
            len(size.dims) > 1 or size.n_samples >= PROXGRAD_INJECTIVE * q * q)

    def _auto_solver(self, size, smooth, lowrank_fits, cvxpy_fitting):
        """``solver="auto"``: cvxpy on small problems, lowrank past the crossover
        (one block) or where no interior-point solver fits; None if nothing fits."""
        entries = size.n_samples * sum(p * p for p in size.dims) * size.n_outputs
        ip_fits = any(interior_point(s) for s in cvxpy_fitting)
        if smooth and lowrank_fits and (not ip_fits or (
                entries > LOWRANK_CROSSOVER and len(size.dims) == 1)):
            # Pooled multi-region problems (CNNs) stay with cvxpy while it fits:
            # measured on digits (2x2 regions, 10 outputs, alpha=1e-3), Clarabel
            # took 47 s where lowrank had not finished in 150 s.
            return "lowrank"
        if cvxpy_fitting:
            return "cvxpy"
        return None

    def _refuse(self, size, solver, need, fitting, lowrank_fits):
        budget = self._budget()
        alternatives = []
        if solver != "lowrank" and lowrank_fits:
            need_lr = estimate_lowrank_bytes(size.n_rows, size.dims, size.n_outputs)
            alternatives.append(f"solver='lowrank' fits (about {format_bytes(need_lr)})")
        if fitting:
            alternatives.append(f"solver='cvxpy' with cvxpy_solver={fitting[0]!r} fits")
        alternatives.append(f"memory_limit={need / 2**30 * 1.1:.3g} (GiB) would let "
                            f"{'this solver' if solver != 'auto' else 'that solver'} run")
        what = {"lowrank": "the lowrank solver (data and its first batch of neurons)",
                "proxgrad": "the proxgrad solver (lifted features or whitened rows)",
                "cvxpy": f"the exact SDP through cvxpy/{(self.cvxpy_solver or 'CLARABEL')}"
                         f" (interior point: a dense KKT block per PSD cone, growing like "
                         f"d^4)",
                "auto": "the cheapest solver that handles this loss"}[solver]
        raise ProblemTooLargeError(
            f"{type(self).__name__}: {what} needs about {format_bytes(need)} for "
            f"{size.describe()}, over the memory budget memory_limit={self.memory_limit:g} "
            f"GiB ({format_bytes(budget)}). " + "; ".join(alternatives) + ". Reducing the "
            "features (e.g. SRHTSketch) also helps."
        )

    def _run_iterative(self, solve, blocks, Y, loss, activation, alpha, scale, **options):
        """``solve`` (lowrank, proxgrad) from the warm network, its ConvergenceWarning muted.

        The estimator warns itself, with the gap of the pruned network.
        """
        warm = self._warm_network(blocks, Y, scale)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return solve(blocks, Y, loss, activation, self.alpha if alpha is None else alpha,
                         fit_intercept=self.fit_intercept, max_iter=self.max_iter,
                         warm_start=warm, **options)

    def _solve_lowrank(self, blocks, Y, loss, activation, alpha=None, scale=1.0, tol=None):
        tol = self.tol if tol is None else tol
        res = self._run_iterative(
            solve_lifted_lowrank, blocks, Y, loss, activation, alpha, scale,
            tol=max(tol, LOWRANK_MIN_TOL), verbose=self.verbose,
            memory_limit=self._budget(),
        )
        if self.verbose:
            print(f"[{type(self).__name__}] lowrank: status {res.status}, {res.n_rounds} "
                  f"rounds, {res.n_iter} L-BFGS iterations, {res.neurons.shape[0]} neurons, "
                  f"relative gap {res.gap:.2e}")
        return NetworkFit(
            res.neurons, res.weights, res.block_index, res.intercept, n_iter=res.n_rounds,
            # res.theta is the loss gradient at this same network, which
            # certify_network certifies anyway: passing it would certify twice.
            status=res.status, solver="lowrank", theta=None, lower_bound=res.lower_bound,
        )

    def _solve_proxgrad(self, blocks, Y, loss, activation, alpha=None, scale=1.0, tol=None):
        tol = self.tol if tol is None else tol
        res = self._run_iterative(
            solve_lifted_proxgrad, blocks, Y, loss, activation, alpha, scale,
            # tol as given, even below what the certificate resolves (its bound
            # comes from the gradient: relative gaps of ~1e-8 at best). A fit
            # asked for less polishes until max_iter: the network still
            # sharpens (scikit-learn's weight check, 45 rows: weighted and
            # repeated decision functions 1e-7 apart; 3e-5 when proxgrad
            # stopped at a gap of 1e-6 whatever tol said).
            tol=tol, verbose=self.verbose > 0,
            **getattr(self, "_proxgrad_options", {}),
        )
        if self.verbose:
            print(f"[{type(self).__name__}] proxgrad: status {res.status}, {res.n_iter} "
                  f"iterations, {res.n_passes} data passes, {res.neurons.shape[0]} neurons, "
                  f"relative gap {res.gap:.2e}")
        return NetworkFit(
            res.neurons, res.weights, res.block_index, res.intercept, n_iter=res.n_iter,
            # res.theta is the dual point of res.lower_bound, already centred,
            # in the domain and scaled into the check's ball by an upper bound
            # on its dual norm: certifying it again cannot raise the bound
            # (certify_network certifies the pruned network's own gradient).
            status=res.status, solver="proxgrad", theta=None,
            lower_bound=res.lower_bound,
        )

    def _warm_network(self, blocks, Y, scale):
        """The previous network (in the solver's units) when ``warm_start`` asks for it."""
        if not getattr(self, "warm_start", False) or not hasattr(self, "hidden_weights_"):
            return None
        if self.hidden_weights_.shape[1] != blocks[0].dim or \
                self._block_index.max(initial=-1) >= len(blocks):
            return None
        W = self.output_weights_
        W = W[:, None] if W.ndim == 1 else W
        if W.shape[1] != Y.shape[1]:
            return None
        return (self.hidden_weights_, W / scale, self._block_index,
                np.atleast_1d(self.intercept_) / scale)

    def _solve_cvxpy(self, blocks, Y, loss, activation, alpha=None, scale=1.0, tol=None):
        tol = self.tol if tol is None else tol
        with warnings.catch_warnings():
            # cvxpy's own "may be inaccurate" notice: the certificate decides.
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            if self._constraint == "sphere":
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
            sol = solve_lifted_cvxpy(
                blocks, Y, loss, activation, self.alpha if alpha is None else alpha,
                constraint=self._constraint, fit_intercept=self.fit_intercept,
                cvxpy_solver=self.cvxpy_solver, max_iter=self.max_iter,
                tol=min(tol, CVXPY_MAX_TOL), verbose=self.verbose > 1,
                memory_limit=self._budget(),
            )
        if self.verbose:
            print(f"[{type(self).__name__}] cvxpy/{sol.solver}: status {sol.status}, "
                  f"{sol.n_iter} iterations, value {sol.value:.8g}"
                  + (f" (after: {'; '.join(sol.log)})" if sol.log else ""))
        neurons, weights, block_index = network_from_lifted(sol.Z)
        return NetworkFit(
            neurons, weights, block_index, sol.intercept, n_iter=sol.n_iter,
            # sol.value is the solver's (uncertified) optimum: the certificate
            # is built from its dual point theta instead.
            status=sol.status, solver=f"cvxpy/{sol.solver}", theta=sol.theta,
        )


def _installed():
    import cvxpy as cp

    return set(cp.installed_solvers())
