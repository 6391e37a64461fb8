"""A module-level cache that exists only inside a ``with`` block.

A regularization path fits one problem at many alphas; what every fit would
recompute (proxgrad's lifted operator, the screen's ``alpha_max``) is kept
for the length of the path and dropped after it, so nothing leaks between
unrelated fits.
"""

from contextlib import contextmanager

__all__ = ["ScopedCache"]


class ScopedCache:
    """A dict (:attr:`store`) that exists only inside :meth:`scope`.

    ``store`` is None outside every scope; nested scopes share the outer
    scope's dict.
    """

    def __init__(self):
        self.store = None

    @contextmanager
    def scope(self):
        """Open the cache for the body of the ``with`` block (a no-op when open)."""
        previous = self.store
        if previous is None:
            self.store = {}
        try:
            yield
        finally:
            self.store = previous
