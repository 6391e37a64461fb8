"""One way to hand a cvxpy problem to the installed conic solvers.

Every exact solve of the package (the lifted SDP, the binary relaxation, the
ReLU relaxation's LP/SOCP, the l1 refit of an output layer) goes through
:func:`solve_cvxpy`: it tries the installed solvers able to take the
problem's cones in a fixed order (the caller's choice first), speaks to each
in its own option names (the table ``SOLVERS``), maps each solver's ending to
one status vocabulary, and says which solver it used when the first one
failed. Adding a solver is one row of the table.

Statuses (``CvxpyOutcome.status``):

* ``"optimal"`` -- solved to the requested tolerance;
* ``"inaccurate"`` -- cvxpy's ``optimal_inaccurate``: kept, with a warning;
* ``"iteration_limit"`` -- the caller's ``max_iter`` stopped it: kept (an
  iteration limit is the caller's choice, not a breakdown; a certificate
  measures the iterate), with a warning;
* ``"unbounded"`` / ``"infeasible"`` -- returned when the caller lists them
  in ``terminal`` (e.g. the ReLU relaxation turns "unbounded" into its own
  error), otherwise the next solver is tried;
* anything else (``"error"``, no values) -- the next solver is tried; when
  none is left, :class:`~sklearn_convexnn.exceptions.SolverFailedError`
  carries every solver's status.
"""

import warnings
from dataclasses import dataclass, field

from sklearn.exceptions import ConvergenceWarning

from ...exceptions import SolverFailedError

__all__ = ["SOLVERS", "CvxpyOutcome", "SolverSpec", "solve_cvxpy", "solver_order"]


@dataclass(frozen=True)
class SolverSpec:
    """How to talk to one cvxpy solver.

    ``max_iter`` is the option naming its iteration limit, scaled by
    ``iteration_scale`` (a first-order iteration is far cheaper than an
    interior-point one); ``tol`` the options set to the requested tolerance;
    ``equilibrate`` the solver's own preconditioning switches, always on;
    ``cones`` the cone families it accepts; ``nested`` names a dict option
    the others go into (MOSEK's ``mosek_params``).
    """

    name: str
    max_iter: str
    tol: tuple
    cones: frozenset
    iteration_scale: int = 1
    equilibrate: tuple = ()
    nested: str = ""

    def options(self, max_iter=None, tol=None):
        """The iteration limit and tolerance in this solver's own words."""
        opts = dict(self.equilibrate)
        if max_iter is not None:
            opts[self.max_iter] = int(max_iter) * self.iteration_scale
        if tol is not None:
            opts.update({name: float(tol) for name in self.tol})
        if self.nested:
            return {self.nested: opts} if opts else {}
        return opts


#: The solvers the package uses, in the default fallback order.
SOLVERS = {
    "CLARABEL": SolverSpec(
        "CLARABEL", "max_iter", ("tol_gap_abs", "tol_gap_rel", "tol_feas"),
        frozenset({"lp", "soc", "exp", "psd"}), equilibrate=(("equilibrate_enable", True),),
    ),
    "MOSEK": SolverSpec(
        "MOSEK", "MSK_IPAR_INTPNT_MAX_ITERATIONS",
        ("MSK_DPAR_INTPNT_CO_TOL_REL_GAP", "MSK_DPAR_INTPNT_CO_TOL_PFEAS",
         "MSK_DPAR_INTPNT_CO_TOL_DFEAS"),
        frozenset({"lp", "soc", "exp", "psd"}), nested="mosek_params",
    ),
    "SCS": SolverSpec(
        "SCS", "max_iters", ("eps_abs", "eps_rel"), frozenset({"lp", "soc", "exp", "psd"}),
        iteration_scale=100, equilibrate=(("normalize", True),),
    ),
    "ECOS": SolverSpec(
        "ECOS", "max_iters", ("abstol", "reltol", "feastol"), frozenset({"lp", "soc", "exp"}),
    ),
}

_STATUS = {
    "optimal": "optimal",
    "optimal_inaccurate": "inaccurate",
    "user_limit": "iteration_limit",
    "unbounded": "unbounded",
    "unbounded_inaccurate": "unbounded",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible",
    "infeasible_or_unbounded": "infeasible",
}
_KEPT = ("optimal", "inaccurate", "iteration_limit")


@dataclass
class CvxpyOutcome:
    """Which solver solved the problem, how it ended, and what failed before."""

    solver: str
    status: str
    cvxpy_status: str
    value: float
    n_iter: int
    log: list = field(default_factory=list)
    problem: object = None


def solver_order(first=None, cone="psd", only=None):
    """Installed solvers able to take ``cone``, in fallback order, ``first`` leading.

    Parameters
    ----------
    first : str or None
        The caller's choice (case-insensitive); must be installed.
    cone : {"lp", "soc", "exp", "psd"}
        The hardest cone of the problem.
    only : collection of str or None
        Restrict to these solvers (e.g. those that fit the memory budget).

    Returns
    -------
    list of str
    """
    import cvxpy as cp

    installed = set(cp.installed_solvers())
    usable = [s for s, spec in SOLVERS.items() if s in installed and cone in spec.cones
              and (only is None or s in only)]
    if first is None:
        return usable
    first = str(first).upper()
    if first not in installed:
        raise ValueError(
            f"cvxpy solver {first!r} is not installed; installed solvers for this problem: "
            f"{usable}."
        )
    if only is not None and first not in only:
        return usable
    return [first] + [s for s in usable if s != first]


def solve_cvxpy(problem, *, cone="psd", first=None, max_iter=None, tol=None, verbose=False,
                terminal=(), check=None, what="the problem", warn=True, stacklevel=3,
                only=None):
    """Solve a cvxpy problem with the first installed solver that succeeds.

    Parameters
    ----------
    problem : cvxpy.Problem, or callable ``spec -> cvxpy.Problem``
        A callable is built anew for each solver tried (a preconditioning
        hook: it may scale the data for the solver it is given).
    cone : {"lp", "soc", "exp", "psd"}, default="psd"
        The hardest cone in the problem; picks the solvers that can take it.
    first : str or None
        Solver to try first (e.g. the estimator's ``cvxpy_solver``).
    only : collection of str or None
        Never try other solvers than these (e.g. the ones whose memory
        estimate fits the budget).
    max_iter, tol : int, float or None
        Iteration limit and tolerance, passed in each solver's own option
        names (``SOLVERS``); None keeps the solver's defaults.
    verbose : bool
        The solver's own log.
    terminal : tuple of str
        Statuses returned to the caller instead of tried again with the next
        solver (e.g. ``("unbounded",)``).
    check : callable or None
        ``check(problem) -> bool``: extra acceptance test on a kept solution
        (e.g. the variables the caller needs have values).
    what : str
        Names the problem in messages.
    warn : bool
        Warn (UserWarning) naming the solver used after a fallback, and
        (ConvergenceWarning) when the kept status is not "optimal".

    Returns
    -------
    CvxpyOutcome
        ``outcome.problem`` is the solved problem (the one built for the
        successful solver when ``problem`` is a callable).

    Raises
    ------
    SolverFailedError
        No solver succeeded; the message lists each one's status.
    """
    import cvxpy as cp

    log = []
    for name in solver_order(first, cone, only):
        spec = SOLVERS.get(name) or SolverSpec(name, "max_iters", (), frozenset())
        prob = problem(spec) if callable(problem) else problem
        try:
            prob.solve(solver=name, verbose=verbose, **spec.options(max_iter, tol))
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            log.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        raw = str(prob.status)
        status = _STATUS.get(raw, "error")
        if status in terminal:
            return _outcome(prob, name, status, raw, log)
        if status not in _KEPT or prob.value is None or (check is not None and not check(prob)):
            log.append(f"{name}: status {raw}")
            continue
        if warn and log:
            warnings.warn(f"Solver fallback for {what}: {'; '.join(log)}; solved with {name} "
                          f"instead.", UserWarning, stacklevel=stacklevel)
        if warn and status != "optimal":
            warnings.warn(f"{name} ended {what} with status {raw!r}: the solution may be "
                          f"inaccurate.", ConvergenceWarning, stacklevel=stacklevel)
        return _outcome(prob, name, status, raw, log)
    raise SolverFailedError(f"{what[0].upper()}{what[1:]} could not be solved by any installed "
                            f"solver: " + ("; ".join(log) or f"no solver takes the {cone} cone"))


def _outcome(prob, name, status, raw, log):
    stats = prob.solver_stats
    value = prob.value
    return CvxpyOutcome(
        solver=name, status=status, cvxpy_status=raw,
        value=float(value) if value is not None else float("nan"),
        n_iter=int(getattr(stats, "num_iters", 0) or 0), log=list(log), problem=prob,
    )
