"""How a run or a study cell ended, and what each ending means for a study's verdict.

One vocabulary for the trainer (its guard), the study runner, both backends, successive
halving, the store and the report. A cell's outcome is written atomically beside its run as
``outcome.json`` (:func:`write`) and read back by whoever needs it (:func:`read`); nobody
parses it out of a log.

=========== ============================================ =========================================
status      meaning                                      in the verdict
=========== ============================================ =========================================
``done``    trained to its length and evaluated          compared (paired on shared seeds)
``diverged`` a non-finite loss or weight stopped it      a loss for its method: counted against it
``stopped`` ended on purpose before its length:          ``by="selection"``: the method lost a
            ``by="selection"`` (successive halving) or   rung, it is out of the race;
            ``by="guard"`` (the run's stability guard)   ``by="guard"``: counts as a failure of its
                                                         method, like ``diverged``
``killed``  ended by a signal from outside (SIGKILL:     missing, not a loss: rerun it
            the out-of-memory killer, SIGTERM, Ctrl-C)
``failed``  an error (bad input, a crash, a damaged file) missing, not a loss: fix and rerun
=========== ============================================ =========================================

The verdict's rules (the report's method note states them):

- a method's finished (``done``) runs are compared with another method's, paired on the
  seeds both finished when there are at least two such seeds, by Welch's test otherwise;
- its failures (``diverged`` and guard-``stopped``) are stated beside it ("2 of 5 runs
  diverged"), and a method with a third or more of its runs failed cannot be recommended as
  best, whatever its finished runs show (:func:`may_be_best`);
- a method whose every run failed or was stopped by selection has lost (:func:`has_lost`);
  the verdict is decided among the others;
- ``killed`` and ``failed`` runs are missing data: reported, and retried by a rerun.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .errors import GannormError
from .utils.io import atomic_write_text

DONE, DIVERGED, STOPPED, KILLED, FAILED = "done", "diverged", "stopped", "killed", "failed"
STATUSES = (DONE, DIVERGED, STOPPED, KILLED, FAILED)
#: who stopped a ``stopped`` run
BY_SELECTION, BY_GUARD = "selection", "guard"
#: the file beside a run that holds its outcome
FILENAME = "outcome.json"
#: a method with at least this fraction of its runs failed cannot be recommended as best
MAX_FAILED_FRACTION = 1 / 3


@dataclass(frozen=True)
class Outcome:
    """How one run ended: its ``status`` (one of :data:`STATUSES`), a one-line ``reason``,
    the ``signal`` number for ``killed``, the ``iteration`` it reached, and for ``stopped``
    who stopped it (``by``: :data:`BY_SELECTION` or :data:`BY_GUARD`)."""
    status: str
    reason: str = ""
    signal: Optional[int] = None
    iteration: Optional[int] = None
    by: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise GannormError(f"unknown run outcome {self.status!r}: expected one of {', '.join(STATUSES)}")
        if self.status == STOPPED and self.by not in (BY_SELECTION, BY_GUARD):
            raise GannormError(f"a stopped run needs by={BY_SELECTION!r} or by={BY_GUARD!r}, not {self.by!r}")

    @property
    def is_failure(self) -> bool:
        """Counts against its method: diverged, or stopped by its stability guard."""
        return is_failure(self.status, self.by)

    @property
    def is_missing(self) -> bool:
        """Missing data that a rerun retries: killed or failed."""
        return self.status in (KILLED, FAILED)


def is_failure(status: str, by: Optional[str] = None) -> bool:
    """Whether an ending counts against its method (``diverged``; ``stopped`` by the guard)."""
    return status == DIVERGED or (status == STOPPED and by == BY_GUARD)


def killed_reason(signal: int) -> str:
    """The reason recorded for a run ended by a signal."""
    names = {9: "SIGKILL (out of memory?)", 15: "SIGTERM", 2: "SIGINT (Ctrl-C)", 1: "SIGHUP"}
    return f"killed by signal {signal}" + (f": {names[signal]}" if signal in names else "")


def may_be_best(statuses: Iterable[tuple]) -> bool:
    """Whether a method may be recommended as best given its runs' ``(status, by)`` pairs:
    fewer than :data:`MAX_FAILED_FRACTION` of them failed and at least one finished."""
    runs = list(statuses)
    if not any(s == DONE for s, _ in runs):
        return False
    failed = sum(is_failure(s, b) for s, b in runs)
    return failed < MAX_FAILED_FRACTION * len(runs)


def has_lost(statuses: Iterable[tuple]) -> bool:
    """Whether a method has lost outright: every run failed or was stopped by selection
    (killed and failed runs are missing data, so a method with any of those has not lost)."""
    runs = list(statuses)
    return bool(runs) and all(is_failure(s, b) or (s == STOPPED and b == BY_SELECTION) for s, b in runs)


def write(run_dir, outcome: Outcome) -> Path:
    """Write ``outcome.json`` beside the run, atomically."""
    path = Path(run_dir) / FILENAME
    atomic_write_text(path, json.dumps(asdict(outcome), indent=1, sort_keys=True) + "\n")
    return path


def read(run_dir) -> Optional[Outcome]:
    """The run's recorded outcome, or None when it has none (never run, or still running).
    A damaged file is a one-line error naming it."""
    path = Path(run_dir) / FILENAME
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        known = {k: d[k] for k in ("status", "reason", "signal", "iteration", "by", "extra") if k in d}
        return Outcome(**known)
    except (ValueError, TypeError, KeyError, GannormError) as e:
        raise GannormError(f"{path} is damaged ({str(e).splitlines()[0]}): delete it and rerun the cell") from None
