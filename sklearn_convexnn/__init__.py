"""Neural networks trained to global optimality by convex optimization.

Every public estimator is listed in ``__all__``; ``tests/test_common.py`` runs
scikit-learn's estimator checks over all of them.
"""

from .cnn import ConvexCNNClassifier, ConvexCNNRegressor, ReLURelaxationCNNRegressor
from .distributed import DebiasedAveragingClassifier, DebiasedAveragingRegressor
from .polynet import ConvexPolyNetClassifier, ConvexPolyNetRegressor
from .quantized import QuantizedSDPClassifier, QuantizedSDPRegressor
from .relu import ConvexReLUClassifier, ConvexReLURegressor
from .sketching import (
    CountSketch,
    GaussianSketch,
    LeverageScoreSketch,
    SRHTSketch,
    SurrogateSketch,
    effective_dimension,
)

__version__ = "0.1.0"

__all__ = [
    "ConvexCNNClassifier",
    "ConvexCNNRegressor",
    "ConvexPolyNetClassifier",
    "ConvexPolyNetRegressor",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "CountSketch",
    "DebiasedAveragingClassifier",
    "DebiasedAveragingRegressor",
    "GaussianSketch",
    "LeverageScoreSketch",
    "QuantizedSDPClassifier",
    "QuantizedSDPRegressor",
    "ReLURelaxationCNNRegressor",
    "SRHTSketch",
    "SurrogateSketch",
    "effective_dimension",
]
