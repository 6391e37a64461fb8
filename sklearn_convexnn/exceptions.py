"""Exceptions and warnings raised by sklearn-convexnn.

Every error the package raises on purpose is one of these (or a plain
``ValueError``/``TypeError`` for bad input), so a caller can catch them by
name without importing private modules.
"""

__all__ = [
    "BadlyScaledDataError",
    "NotDecodableError",
    "ProblemTooLargeError",
    "RelaxationUnboundedError",
    "SolverFailedError",
]


class SolverFailedError(RuntimeError):
    """Every solver tried failed; the message carries each solver's status."""


class ProblemTooLargeError(MemoryError, ValueError):
    """The problem would not fit the memory budget of the chosen solver.

    Raised before anything large is built; the message names the estimated
    size, the limit, and the solver or setting that fits.
    """


class RelaxationUnboundedError(ValueError):
    """The anchor is unbounded over the feasible filters: too few samples."""


class NotDecodableError(ValueError):
    """The workers that have answered do not determine the coded product."""


class BadlyScaledDataError(SolverFailedError, ValueError):
    """Every solver failed on features far from unit scale.

    Both a solver failure (caught as :class:`SolverFailedError`) and a
    complaint about the input (caught as ``ValueError``): the message names
    the features' scale and the remedy (rescale X, e.g. StandardScaler).
    """
