"""What a neuron may be: the sets of first-layer weights of the lifted model.

The lifted problem is a lasso over every neuron of a set ``U``; its dual
constraint is a norm, the *dual norm* of a dual point ``theta`` (n, k)::

    ||theta||_U,o = max_{u in U, block r} |theta_o^T sigma_r(u)|   (one per output o)

where ``sigma_r(u)`` are the pooled activations of block ``r`` (patches and
pooling are carried by the blocks, see ``lifted.LiftedBlock``, so a
convolutional net needs no set of its own). A neuron set answers three
questions, in the manner of a penalty object of skglm:

* ``dual_norm(blocks, theta, activation)``: an upper bound (certified side)
  on the dual norm, per output -- the dual check of the certificate;
* ``cvxpy_constraints(Z, p)``: the constraint on a lifted PSD matrix ``Z``
  of size ``p + 1`` that says "mixture of this set's neurons" (exact or
  relaxed);
* ``alpha_max(...)``: the dual norm at the intercept-only fit, the smallest
  ``alpha`` at which the empty network is optimal (the start of a path).

Sets here: :class:`Sphere` (``||u|| = 1``; lifted ``tr(Z1) = Z4``, exact;
dual check a trust-region problem solved exactly) and :class:`Signs`
(``u in {-1, +1}^p``; lifted ``diag(Z1) = Z4 1``, the elliptope relaxation;
dual check bounded over the elliptope). A new set (ReLU gates, ...)
subclasses :class:`NeuronSet`, implements these three methods, and is
registered in ``NEURON_SETS``; the certificate (``certificate.py``) and the
cvxpy back end serve it unchanged.
"""

from itertools import product

import numpy as np

from ..shared.intercept import constant_fit, intercept_only_dual
from .trust_region import sphere_quadratic_range

__all__ = ["EXACT_SIGNS_MAX_DIM", "NEURON_SETS", "NeuronSet", "Signs", "Sphere", "constant_fit",
           "get_neuron_set"]

#: Largest number of first-layer weights for which ``Signs(exact="auto")``
#: enumerates every sign vector instead of bounding over the elliptope.
EXACT_SIGNS_MAX_DIM = 12


class NeuronSet:
    """Interface of a neuron set; see the module docstring."""

    name = None

    def dual_norm(self, blocks, theta, activation):
        """Upper bound on ``max_{u, r} |theta_o^T sigma_r(u)|`` for every output o.

        Parameters
        ----------
        blocks : list of LiftedBlock
        theta : ndarray of shape (n, k)
        activation : tuple (a, b, c)

        Returns
        -------
        ndarray of shape (k,)
        """
        raise NotImplementedError

    def cvxpy_constraints(self, Z, p):
        """cvxpy constraints on a lifted PSD variable ``Z`` of size ``p + 1``."""
        raise NotImplementedError

    def alpha_max(self, blocks, Y, loss, activation, fit_intercept=True):
        """Smallest ``alpha`` for which no neuron improves on the intercept-only fit.

        The dual norm of the loss gradient at the best constant prediction
        (at zero without intercept; ``shared/intercept.py``), maximized over
        outputs. Exact for smooth losses and an exact dual norm; an upper
        bound for a relaxed one (the elliptope of :class:`Signs`), and
        sufficient (the empty network is optimal there) for the absolute and
        hinge losses.
        """
        theta = intercept_only_dual(Y, loss, fit_intercept)
        return float(np.max(self.dual_norm(blocks, theta, activation), initial=0.0))

    def __repr__(self):
        exact = getattr(self, "exact", False)
        return f"{type(self).__name__}({'' if exact is False else f'exact={exact!r}'})"


class Sphere(NeuronSet):
    """Unit-norm neurons, ``||u||_2 = 1``: the exact lifted constraint ``tr(Z1) = Z4``."""

    name = "sphere"

    def dual_norm(self, blocks, theta, activation):
        return np.array([max(self.most_violating(blocks, theta[:, [o]], activation)[0], 0.0)
                         for o in range(theta.shape[1])])

    def most_violating(self, blocks, theta, activation):
        """``(value, u, output, block, sign)`` of the neuron with the largest ``|theta^T sigma|``.

        ``value`` is the trust-region solver's dual bound (an upper bound on
        the maximum), ``u`` the maximizer, ``sign`` the sign of
        ``theta_o^T sigma_r(u)`` there.
        """
        best = (-np.inf, None, 0, 0, 1.0)
        for o in range(theta.shape[1]):
            for r, block in enumerate(blocks):
                A, g, c0 = block.dual_quadratic(theta[:, o], activation)
                value, u, sign = sphere_quadratic_range(A, g, c0)
                if value > best[0]:
                    best = (value, u, o, r, sign)
        return best

    def cvxpy_constraints(self, Z, p):
        import cvxpy as cp

        return [cp.trace(Z[:p, :p]) == Z[p, p]]


class Signs(NeuronSet):
    """Sign-vector neurons, ``u in {-1, +1}^p``, relaxed to the elliptope.

    The lifted constraint ``diag(Z1) = Z4 1`` contains every
    ``[u; 1][u; 1]^T``, so the relaxation's value is a lower bound on the
    sign-vector optimum; the dual check bounds the max-cut problem
    ``max_u <M, [u; 1][u; 1]^T>`` by its elliptope relaxation (see
    ``binary_certificate.elliptope_max``), valid however the small SDP that
    proposes the bound was solved.
    """

    name = "signs"

    def __init__(self, exact=False):
        self.exact = exact

    def dual_norm(self, blocks, theta, activation):
        """Per output: the elliptope bound, or with ``exact`` the maximum over all sign vectors.

        ``exact=True`` enumerates the ``2^p`` sign vectors of each block (the
        quantized problem's own dual norm, not an upper bound on the
        relaxation's); ``"auto"`` does so when ``p <= EXACT_SIGNS_MAX_DIM``;
        False (the default, the certificate's) bounds over the elliptope.
        """
        from .binary_certificate import elliptope_max

        out = np.zeros(theta.shape[1])
        for block in blocks:
            enumerate_all = self.exact is True or (
                self.exact == "auto" and block.dim <= EXACT_SIGNS_MAX_DIM)
            U = np.array(list(product((-1.0, 1.0), repeat=block.dim))) if enumerate_all \
                else None
            for o in range(theta.shape[1]):
                A, g, c0 = block.dual_quadratic(theta[:, o], activation)
                if enumerate_all:
                    values = np.einsum("ij,jk,ik->i", U, A, U) + U @ g + c0
                    out[o] = max(out[o], float(np.abs(values).max()))
                else:
                    M = np.block([[A, g[:, None] / 2], [g[None, :] / 2, np.array([[c0]])]])
                    out[o] = max(out[o], elliptope_max(M), elliptope_max(-M))
        return out

    def cvxpy_constraints(self, Z, p):
        import cvxpy as cp

        return [cp.diag(Z[:p, :p]) == Z[p, p]]


#: Neuron sets by name ("binary" is the historical name of the sign vectors).
NEURON_SETS = {"sphere": Sphere, "signs": Signs, "binary": Signs}


def get_neuron_set(neuron_set):
    """A :class:`NeuronSet` from an instance or a name of ``NEURON_SETS``."""
    if isinstance(neuron_set, NeuronSet):
        return neuron_set
    if neuron_set in NEURON_SETS:
        return NEURON_SETS[neuron_set]()
    raise ValueError(
        f"Unknown neuron set {neuron_set!r}; expected a NeuronSet or one of "
        f"{sorted(NEURON_SETS)}."
    )
