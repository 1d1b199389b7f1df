"""Adversarial losses, registered by name in ``LOSSES``; penalties as plain functions."""
from . import standard  # noqa: F401
from . import wgan  # noqa: F401
from . import lsgan  # noqa: F401
from . import hinge  # noqa: F401
from . import relativistic  # noqa: F401
from . import began  # noqa: F401
from . import mmd  # noqa: F401
from .base import AdversarialLoss
from .penalties import dragan_penalty, gradient_penalty, orthogonal_penalty, r1_penalty

__all__ = ["AdversarialLoss", "gradient_penalty", "r1_penalty", "dragan_penalty", "orthogonal_penalty"]
