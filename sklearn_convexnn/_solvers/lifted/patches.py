"""Image patches and pooling regions: the lifted features of a convolutional net.

Images arrive as rows of a matrix ``X`` (n, H * W * C), each row an image
flattened in row-major, channels-last order: pixel ``(h, w, c)`` sits at
column ``(h * W + w) * C + c``. A filter of shape ``patch_shape`` slides
over the image with ``stride``; the patch positions form a grid
``(Ho, Wo)`` with ``Ho = (H - ph) // sh + 1`` (no padding). Every patch is
flattened in the same (row, column, channel) order, so a filter is a vector
of ``ph * pw * C`` numbers.

The grid of positions is cut into ``pool_regions = (gh, gw)`` rectangles of
near-equal size (``numpy.array_split`` along each axis); the activations of
the positions in one region are pooled with fixed weights (``1 / size`` for
average pooling, 1 for sum pooling). ``(1, 1)`` is global pooling.

``patch_blocks`` returns one ``LiftedBlock(P, pool_r)`` per region, all
sharing the patch matrix ``P`` (n * K, p): row ``i * K + k`` is patch ``k``
of sample ``i``.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import sliding_window_view

from .lifted import LiftedBlock

__all__ = [
    "PatchGeometry",
    "extract_patches",
    "patch_blocks",
    "patch_geometry",
    "pooling_matrices",
    "resolve_geometry",
]

POOLINGS = ("average", "sum")


@dataclass(frozen=True)
class PatchGeometry:
    """Validated shapes of a convolution: image, patch, stride, regions, pooling."""

    image_shape: tuple  # (H, W, C)
    patch_shape: tuple  # (ph, pw)
    stride: tuple  # (sh, sw)
    pool_regions: tuple  # (gh, gw)
    pooling: str = "average"

    @property
    def grid(self):
        """Number of patch positions along each axis, ``(Ho, Wo)``."""
        (H, W, _), (ph, pw), (sh, sw) = self.image_shape, self.patch_shape, self.stride
        return (H - ph) // sh + 1, (W - pw) // sw + 1

    @property
    def n_positions(self):
        Ho, Wo = self.grid
        return Ho * Wo

    @property
    def patch_size(self):
        return self.patch_shape[0] * self.patch_shape[1] * self.image_shape[2]

    @property
    def n_regions(self):
        return self.pool_regions[0] * self.pool_regions[1]

    def region_of_position(self):
        """Region index (K,) of every patch position, row-major over the grid."""
        Ho, Wo = self.grid
        gh, gw = self.pool_regions
        rows = np.concatenate([np.full(len(c), j) for j, c in
                               enumerate(np.array_split(np.arange(Ho), gh))])
        cols = np.concatenate([np.full(len(c), j) for j, c in
                               enumerate(np.array_split(np.arange(Wo), gw))])
        return (rows[:, None] * gw + cols[None, :]).ravel()


def patch_geometry(n_features, image_shape=None, patch_shape=None, stride=1,
                   pool_regions=None, pooling="average"):
    """Check a convolution's shapes against ``n_features`` and fill in defaults.

    Parameters
    ----------
    n_features : int
        Columns of X.
    image_shape : tuple (H, W) or (H, W, C), default=None
        ``None`` reads a row as a single-channel image of one row,
        ``(1, n_features, 1)`` (a 1-D signal).
    patch_shape : tuple (ph, pw), default=None
        ``None`` is (3, 3) reduced to the image where the image is smaller.
    stride : int or tuple (sh, sw), default=1
    pool_regions : tuple (gh, gw), default=None
        ``None`` is a (2, 2) grid reduced to the grid of patch positions
        where that is smaller; ``(1, 1)`` is global pooling.
    pooling : {"average", "sum"}, default="average"

    Returns
    -------
    PatchGeometry

    Examples
    --------
    >>> g = patch_geometry(64, image_shape=(8, 8), patch_shape=(3, 3))
    >>> g.grid, g.patch_size, g.n_regions
    ((6, 6), 9, 4)
    >>> patch_geometry(10).image_shape, patch_geometry(10).patch_shape
    ((1, 10, 1), (1, 3))
    """
    if image_shape is None:
        image = (1, int(n_features), 1)
    else:
        image = _int_tuple(image_shape, "image_shape", (2, 3))
        image = image + (1,) * (3 - len(image))
        if int(np.prod(image)) != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)} has {int(np.prod(image))} pixels "
                f"(H * W * C) but X has {n_features} features."
            )
    H, W, _ = image
    patch = _pair_at_most(patch_shape, "patch_shape", (min(3, H), min(3, W)), (H, W),
                          f"is larger than the image ({H}, {W}) of image_shape={image}.")
    if isinstance(stride, Integral) and not isinstance(stride, bool):
        stride = (stride, stride)
    strides = _int_tuple(stride, "stride", (2,))
    Ho, Wo = (H - patch[0]) // strides[0] + 1, (W - patch[1]) // strides[1] + 1
    regions = _pair_at_most(
        pool_regions, "pool_regions", (min(2, Ho), min(2, Wo)), (Ho, Wo),
        f"asks for more regions than there are patch positions ({Ho}, {Wo}) for image "
        f"{image[:2]}, patch {patch}, stride {strides}.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
    return PatchGeometry(image, patch, strides, regions, pooling)


def resolve_geometry(params, n_features):
    """:func:`patch_geometry` from the parameters an object carries.

    ``params`` is anything with the attributes ``image_shape``,
    ``patch_shape``, ``stride``, ``pool_regions`` and ``pooling`` (the CNN
    estimators); used by their fit and by the regularization paths.
    """
    return patch_geometry(n_features, params.image_shape, params.patch_shape,
                          params.stride, params.pool_regions, params.pooling)


def extract_patches(X, geometry):
    """All patches of all images, shape (n * K, p); row ``i * K + k``.

    Vectorized with ``sliding_window_view`` (a strided view, copied once by
    the final reshape).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(16.0).reshape(1, 16)
    >>> g = patch_geometry(16, (4, 4), (2, 2), stride=2, pool_regions=(1, 1))
    >>> extract_patches(X, g)
    array([[ 0.,  1.,  4.,  5.],
           [ 2.,  3.,  6.,  7.],
           [ 8.,  9., 12., 13.],
           [10., 11., 14., 15.]])
    """
    X = np.asarray(X, dtype=float)
    H, W, C = geometry.image_shape
    ph, pw = geometry.patch_shape
    sh, sw = geometry.stride
    images = X.reshape(X.shape[0], H, W, C)
    # windows: (n, H - ph + 1, W - pw + 1, C, ph, pw)
    windows = sliding_window_view(images, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
    windows = windows.transpose(0, 1, 2, 4, 5, 3)
    return windows.reshape(X.shape[0] * geometry.n_positions, geometry.patch_size)


def pooling_matrices(n_samples, geometry):
    """One sparse (n, n * K) pooling matrix per region.

    Entry ``(i, i * K + k)`` is the weight of position ``k`` in its region
    (``1 / size`` for average pooling, 1 for sum), zero outside the region.

    Examples
    --------
    >>> g = patch_geometry(9, (3, 3), (2, 2), pool_regions=(1, 2))
    >>> [m.toarray().tolist() for m in pooling_matrices(1, g)]
    [[[0.5, 0.0, 0.5, 0.0]], [[0.0, 0.5, 0.0, 0.5]]]
    >>> g = patch_geometry(9, (3, 3), (2, 2), pool_regions=(1, 2), pooling="sum")
    >>> pooling_matrices(2, g)[0].toarray()
    array([[1., 0., 1., 0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 1., 0., 1., 0.]])
    """
    K = geometry.n_positions
    region = geometry.region_of_position()
    mats = []
    for r in range(geometry.n_regions):
        positions = np.flatnonzero(region == r)
        weight = 1.0 / positions.size if geometry.pooling == "average" else 1.0
        cols = (np.arange(n_samples)[:, None] * K + positions[None, :]).ravel()
        indptr = np.arange(n_samples + 1) * positions.size
        data = np.full(cols.size, weight)
        mats.append(sp.csr_matrix((data, cols, indptr), shape=(n_samples, n_samples * K)))
    return mats


def patch_blocks(X, geometry):
    """One ``LiftedBlock(P, pool_r)`` per pooling region, sharing the patches."""
    P = extract_patches(X, geometry)
    return [LiftedBlock(P, pool) for pool in pooling_matrices(np.shape(X)[0], geometry)]


def _pair_at_most(value, name, default, limit, complaint):
    """``value`` as an (h, w) pair of positive integers within ``limit`` (``default`` if None)."""
    if value is None:
        return default
    pair = _int_tuple(value, name, (2,))
    if pair[0] > limit[0] or pair[1] > limit[1]:
        raise ValueError(f"{name}={pair} {complaint}")
    return pair


def _int_tuple(value, name, lengths):
    try:
        out = tuple(value)
    except TypeError:
        out = None
    ok = (out is not None and len(out) in lengths
          and all(isinstance(v, Integral) and not isinstance(v, bool) for v in out))
    if not ok:
        raise ValueError(
            f"{name} must be a tuple of {' or '.join(map(str, lengths))} integers; got {value!r}."
        )
    out = tuple(int(v) for v in out)
    if min(out) < 1:
        raise ValueError(f"{name} entries must be >= 1; got {out}.")
    return out
