"""Studies: a grid of runs, a SQLite results store, and a paper-style report."""
from .grid import Study, load_study
from .report import build_report
from .runner import run_study
from .store import Store

__all__ = ["Study", "Store", "build_report", "load_study", "run_study"]
