"""Neural networks trained to global optimality by convex optimization.

Every public estimator is listed in ``__all__``; ``tests/test_common.py`` runs
scikit-learn's estimator checks over all of them.
"""

from ._cv import (
    ConvexCNNClassifierCV,
    ConvexCNNRegressorCV,
    ConvexPolyNetClassifierCV,
    ConvexPolyNetRegressorCV,
    QuantizedSDPClassifierCV,
    QuantizedSDPRegressorCV,
)
from .cnn import ConvexCNNClassifier, ConvexCNNRegressor, ReLURelaxationCNNRegressor
from .distributed import DebiasedAveragingClassifier, DebiasedAveragingRegressor
from .paths import alpha_max, polynet_path, regularization_path
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
    "ConvexCNNClassifierCV",
    "ConvexCNNRegressor",
    "ConvexCNNRegressorCV",
    "ConvexPolyNetClassifier",
    "ConvexPolyNetClassifierCV",
    "ConvexPolyNetRegressor",
    "ConvexPolyNetRegressorCV",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "CountSketch",
    "DebiasedAveragingClassifier",
    "DebiasedAveragingRegressor",
    "GaussianSketch",
    "LeverageScoreSketch",
    "QuantizedSDPClassifier",
    "QuantizedSDPClassifierCV",
    "QuantizedSDPRegressor",
    "QuantizedSDPRegressorCV",
    "ReLURelaxationCNNRegressor",
    "SRHTSketch",
    "SurrogateSketch",
    "alpha_max",
    "effective_dimension",
    "polynet_path",
    "regularization_path",
]
