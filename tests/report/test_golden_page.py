"""The report of two fixed planted stores renders to the same text and the same figures as
recorded in ``golden/`` (see ``golden_stores``): a change to how the page is built must not
change what it says. The text is compared with its tags removed and whitespace collapsed;
the figures by file name and size (same data, same matplotlib: the same bytes)."""
import json

import pytest

from golden_stores import GOLDEN, SCENARIOS, render


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_page_text_and_figures_match_the_golden_files(tmp_path, scenario):
    got = render(tmp_path, scenario)
    want_text = (GOLDEN / f"{scenario}.txt").read_text().rstrip("\n").replace(".\n", ". ")
    want = json.loads((GOLDEN / f"{scenario}.json").read_text())
    assert got["text"] == want_text
    assert got["csv"] == want["csv"]
    assert got["files"] == want["files"]
