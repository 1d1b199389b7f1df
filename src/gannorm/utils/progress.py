"""Progress of long computations (reconstruction test, feature extraction, final test).

The computations stay plain functions: they take ``progress`` and report through
``Progress``, which turns it into one of

- ``False``/``None``: nothing;
- ``True``: a tqdm bar with rate and ETA on stderr;
- ``"auto"``: a tqdm bar only when stderr is a terminal (logs and pipes get no ``\\r`` noise);
- a callable ``f(done, total, desc)``: called after every advance, e.g. to show a nested
  computation in the postfix of an outer bar (the training bar during a running test).

The CLI's ``--progress/--no-progress`` maps to ``True``/``False`` and its default to ``"auto"``.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional, Union

ProgressArg = Union[bool, None, str, Callable[[int, int, str], None]]


def show_bar(progress: ProgressArg) -> bool:
    """Whether ``progress`` asks for a bar on stderr now."""
    if progress == "auto":
        return sys.stderr.isatty()
    return progress is True


class Progress:
    """Counts ``done`` of ``total`` units of work and reports it as ``progress`` asks."""

    def __init__(self, progress: ProgressArg, total: int, desc: str, unit: str = "it"):
        if not (progress in (None, False, True, "auto") or callable(progress)):
            raise ValueError(f"progress must be a bool, 'auto' or a callable(done, total, desc), got {progress!r}")
        self.total, self.desc, self.done = int(total), desc, 0
        self._callback = progress if callable(progress) else None
        self._bar = None
        if show_bar(progress):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                             file=sys.stderr)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self.done, self.total, self.desc)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def postfix_reporter(bar, label: str) -> Optional[Callable[[int, int, str], None]]:
    """A ``progress`` callable that shows a nested computation in an outer tqdm ``bar``'s
    postfix ("running test 3/50 steps"), or None when the bar is disabled."""
    if bar is None or getattr(bar, "disable", True):
        return None

    def report(done: int, total: int, desc: str) -> None:
        bar.set_postfix_str(f"{label} {done}/{total}", refresh=False)
        bar.update(0)  # redraws at tqdm's own rate limit, not once per step

    return report
