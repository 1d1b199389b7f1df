"""Evaluation: the paper's reconstruction error; sample-quality metrics register in METRICS."""
from .reconstruction import ReconResult, reconstruction_error
from . import extractors, fidelity  # noqa: F401  (FID/KID/IS/PR register in METRICS)

__all__ = ["ReconResult", "reconstruction_error"]
