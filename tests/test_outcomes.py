"""The outcomes vocabulary: its verdict rules and its file beside a run."""
import pytest

from gannorm import outcomes as oc
from gannorm.errors import GannormError


def test_round_trip(tmp_path):
    o = oc.Outcome(oc.KILLED, oc.killed_reason(9), signal=9, iteration=120)
    oc.write(tmp_path, o)
    assert oc.read(tmp_path) == o
    assert "out of memory" in oc.read(tmp_path).reason
    assert oc.read(tmp_path / "none") is None


def test_damaged_file_is_one_line(tmp_path):
    (tmp_path / oc.FILENAME).write_text("{not json")
    with pytest.raises(GannormError, match="damaged"):
        oc.read(tmp_path)
    (tmp_path / oc.FILENAME).write_text('{"status": "exploded"}')
    with pytest.raises(GannormError, match="damaged"):
        oc.read(tmp_path)


def test_stopped_needs_who():
    with pytest.raises(GannormError):
        oc.Outcome(oc.STOPPED)
    assert oc.Outcome(oc.STOPPED, by=oc.BY_GUARD).is_failure
    assert not oc.Outcome(oc.STOPPED, by=oc.BY_SELECTION).is_failure
    assert oc.Outcome(oc.FAILED).is_missing and oc.Outcome(oc.KILLED).is_missing


@pytest.mark.parametrize("n", range(1, 10))
def test_may_be_best_third_rule(n):
    # a method with a third or more of its runs diverged is never best; fewer, it may be
    for k in range(n + 1):
        runs = [(oc.DIVERGED, None)] * k + [(oc.DONE, None)] * (n - k)
        assert oc.may_be_best(runs) == (k * 3 < n and k < n)


def test_has_lost():
    assert oc.has_lost([(oc.DIVERGED, None)] * 3)
    assert oc.has_lost([(oc.STOPPED, oc.BY_SELECTION), (oc.STOPPED, oc.BY_GUARD)])
    assert not oc.has_lost([(oc.DIVERGED, None), (oc.KILLED, None)])
    assert not oc.has_lost([(oc.DIVERGED, None), (oc.DONE, None)])
    assert not oc.has_lost([])
