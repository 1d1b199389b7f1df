"""Adversarial losses, registered by name in ``LOSSES``."""
from . import standard  # noqa: F401
from .base import AdversarialLoss

__all__ = ["AdversarialLoss"]
