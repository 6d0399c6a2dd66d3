"""Networks and the gradient reversal layer."""

from core.models.dann_nets import MODELS, CourseDANN, DANNNet, DigitDANN, build_model
from core.models.grl import GradientReversal, grad_reverse

__all__ = [
    "MODELS",
    "CourseDANN",
    "DANNNet",
    "DigitDANN",
    "build_model",
    "GradientReversal",
    "grad_reverse",
]
