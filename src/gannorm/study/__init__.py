"""Studies: a grid of runs and how it is run (locally, on Ray, with successive halving, a
seeds race or tune-then-confirm), writing every cell into the results store
(``gannorm.store``); ``gannorm.report`` renders the store."""
from ..store import Store
from .grid import Study, load_study
from .runner import run_study

__all__ = ["Study", "Store", "load_study", "run_study"]
