"""Pure metric functions: the paper's reconstruction error, FID/KID/IS/PR and their feature
extractors. Each metric registers in ``METRICS`` with its CLI flag, result key and record
format; nothing here knows about runs (that is ``gannorm.evaluation``)."""
from .reconstruction import ReconResult, reconstruction_error
from . import extractors, fidelity  # noqa: F401  (FID/KID/IS/PR register in METRICS)
from . import density_coverage  # noqa: F401  (density and coverage register in METRICS)

__all__ = ["ReconResult", "reconstruction_error"]
