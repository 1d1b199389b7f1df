"""What a study's runner writes and its report reads: the results store (SQLite), the final
test's settings and result keys, the run-level stability figures stored with each run, the
statistics both the runner's decisions (seeds race, successive halving) and the report use,
and the labels that name a cell's role. The runner (``gannorm.study``) and the report
(``gannorm.report``) meet only here."""
from .db import Store

__all__ = ["Store"]
