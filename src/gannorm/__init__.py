"""gannorm: train GANs that stay stable, and measure that stability objectively.

Public pieces are plain PyTorch modules and functions: ``gannorm.nn`` (normalizations),
``gannorm.models``, ``gannorm.losses``, ``gannorm.metrics`` (reconstruction error, FID/KID/IS/PR), the
``Trainer`` in ``gannorm.training``, and ``gannorm.load_generator(path)``: the trained G of a
run directory, a checkpoint or a file from ``gannorm export``.
"""
from .errors import GannormError
from .version import __version__

__all__ = ["GannormError", "__version__", "load_generator"]


def __getattr__(name):
    # imported on first use: ``import gannorm`` stays light (no torch) for the CLI's start-up
    if name == "load_generator":
        from .evaluation.generator import load_generator

        return load_generator
    raise AttributeError(f"module 'gannorm' has no attribute {name!r}")
