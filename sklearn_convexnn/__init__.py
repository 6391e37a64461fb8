"""Neural networks trained to global optimality by convex optimization.

Every public estimator is listed in ``__all__``; ``tests/test_common.py`` runs
scikit-learn's estimator checks over all of them.
"""

from ._cv import (
    ConvexCNNClassifierCV,
    ConvexCNNRegressorCV,
    ConvexPolyNetClassifierCV,
    ConvexPolyNetRegressorCV,
    ConvexReLUClassifierCV,
    ConvexReLURegressorCV,
    QuantizedSDPClassifierCV,
    QuantizedSDPRegressorCV,
)
from .cnn import ConvexCNNClassifier, ConvexCNNRegressor, ReLURelaxationCNNRegressor
from .coding import (
    CodedProducts,
    MDSCode,
    PolarCode,
    ReplicationCode,
    StragglerSimulator,
    UncodedCode,
    coded_matmul,
)
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
    "CodedProducts",
    "ConvexCNNClassifier",
    "ConvexCNNClassifierCV",
    "ConvexCNNRegressor",
    "ConvexCNNRegressorCV",
    "ConvexPolyNetClassifier",
    "ConvexPolyNetClassifierCV",
    "ConvexPolyNetRegressor",
    "ConvexPolyNetRegressorCV",
    "ConvexReLUClassifier",
    "ConvexReLUClassifierCV",
    "ConvexReLURegressor",
    "ConvexReLURegressorCV",
    "CountSketch",
    "DebiasedAveragingClassifier",
    "DebiasedAveragingRegressor",
    "GaussianSketch",
    "LeverageScoreSketch",
    "MDSCode",
    "PolarCode",
    "QuantizedSDPClassifier",
    "QuantizedSDPClassifierCV",
    "QuantizedSDPRegressor",
    "QuantizedSDPRegressorCV",
    "ReLURelaxationCNNRegressor",
    "ReplicationCode",
    "SRHTSketch",
    "StragglerSimulator",
    "SurrogateSketch",
    "UncodedCode",
    "alpha_max",
    "coded_matmul",
    "effective_dimension",
    "polynet_path",
    "regularization_path",
]
