"""gannorm: train GANs that stay stable, and measure that stability objectively.

Public pieces are plain PyTorch modules and functions: ``gannorm.nn`` (normalizations),
``gannorm.models``, ``gannorm.losses``, ``gannorm.metrics`` (reconstruction error), and the
``Trainer`` in ``gannorm.training``.
"""
__version__ = "0.1.0"

from .errors import GannormError  # noqa: E402

__all__ = ["GannormError", "__version__"]
