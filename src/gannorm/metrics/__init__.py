"""Evaluation: the paper's reconstruction error; sample-quality metrics register in METRICS."""
from .reconstruction import ReconResult, reconstruction_error

__all__ = ["ReconResult", "reconstruction_error"]
