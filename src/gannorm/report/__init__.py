"""A study's report, read from its store alone: the analysis behind it (statistics across
seeds, verdicts, z-step budgets, tuning curves), the recommendation in words, the figures and
the self-contained HTML page."""
from .page import build_report

__all__ = ["build_report"]
