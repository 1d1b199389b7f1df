"""The halving record: per rung, each method's value, rank and outcome, from the values the
trials reported (checked against the decisions written out by hand), and the report section."""
import pytest

from gannorm.report.page import selection_section
from gannorm.store import Store, selection

# ASHA rungs at 10 and 20 of a 40-iteration budget; c stopped at 10, b at 20, a finished
HIST = {"a": [[10, 0.30], [20, 0.20], [40, 0.10]], "b": [[10, 0.35], [20, 0.25]], "c": [[10, float("inf")]]}


def test_decisions_rank_each_rung_and_say_who_stopped_where():
    d = selection.decide([10, 20], 40, "min", HIST)
    got = [(x["iteration"], x["method"], x["rank"], x["of"], x["decision"]) for x in d]
    assert got == [(10, "a", 1, 3, "continued"), (10, "b", 2, 3, "continued"), (10, "c", 3, 3, "stopped"),
                   (20, "a", 1, 2, "continued"), (20, "b", 2, 2, "stopped"), (40, "a", 1, 1, "finished")]
    maxed = selection.decide([10, 20], 40, "max", HIST)
    assert [x["method"] for x in maxed if x["iteration"] == 20] == ["b", "a"]  # higher is better
    why = selection.why(d[4], "recon_running", 2)
    assert why.startswith("stopped by successive halving at iteration 20 (rung 2)") and "rank 2 of 2" in why


def test_record_round_trips_and_renders(tmp_path):
    store = Store(tmp_path / "study.db")
    assert selection_section(store) == ""  # a full-grid study has no selection section
    d = selection.decide([10, 20], 40, "min", HIST)
    selection.save(store, d, {"metric": "recon_running", "mode": "min", "keep": "1/2", "rungs": "10,20",
                              "full_budget": 40, "iterations_used": 70, "iterations_full_grid": 120})
    rows, summary = selection.load(store)
    assert len(rows) == 6 and rows[2]["value"] is None  # inf (a diverged seed) is stored as NULL
    assert rows[0]["value"] == pytest.approx(0.30)
    page = selection_section(store)
    assert "70 training iterations of the full grid's 120 (58%)" in page
    assert page.count("<tr>") == 7 and "stopped" in page
