"""The page's templates: shipped with the package (an install from a wheel has them), values
escaped (a label is text, never markup), and the halving section is part of the page's
template, not pasted in after it is rendered."""
import fnmatch
import re
import tomllib
from pathlib import Path

from gannorm.report import build_report
from gannorm.report.page import TEMPLATES
from gannorm.store import Store, selection

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "gannorm"


def test_every_template_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gannorm"]
    files = [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "report" / "templates").rglob("*") if p.is_file()]
    assert files and "report/templates/page.html.j2" in files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
    for f in files:  # and every one of them parses (a syntax error is found here, not by a user)
        if f.endswith(".j2"):
            TEMPLATES.get_template(f.split("templates/", 1)[1])


def _store(tmp_path, halving: bool):
    st = Store(tmp_path / "study.db")
    for m in ("<b>bold</b>", "a&b"):
        for s in range(2):
            cid = f"norm={m},seed={s}"
            st.put_run({"cell_id": cid, "labels": {"norm": m, "seed": str(s)}, "status": "done" if s == 0 else "failed",
                        "error": None if s == 0 else "boom <script>alert(1)</script>", "run_dir": str(tmp_path / "r"),
                        "iterations": 10, "best_running": 0.1}, [{"iteration": 10, "recon_running": 0.1}], {})
    if halving:
        selection.save(st, [{"rung": 0, "iteration": 5, "method": "<b>bold</b>", "value": 0.1, "rank": 1, "of": 2,
                             "decision": "continued"}],
                       {"metric": "recon_running", "mode": "min", "keep": "1/2", "rungs": "5", "full_budget": 10,
                        "iterations_used": 15, "iterations_full_grid": 20, "scheduler": "sync"})
    st.close()


def test_labels_and_errors_are_escaped(tmp_path):
    _store(tmp_path, halving=True)
    page = build_report(tmp_path).read_text()
    assert "<b>bold</b>" not in page and "<script>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "a&amp;b" in page and "boom &lt;script&gt;" in page


def test_the_selection_section_sits_inside_the_body_once(tmp_path):
    _store(tmp_path, halving=True)
    page = build_report(tmp_path).read_text()
    assert page.count("<body>") == page.count("</body>") == 1 and page.rstrip().endswith("</body></html>")
    body = page.split("<body>", 1)[1]
    assert body.count("Selection by successive halving") == 1
    assert body.index("Method note") < body.index("Selection by successive halving") < body.index("</body>")
    assert re.search(r"<td>5</td><td>&lt;b&gt;bold&lt;/b&gt;</td><td>0.1</td><td>1 / 2</td>", page)
    full = tmp_path / "full"
    full.mkdir()
    _store(full, halving=False)
    assert "Selection by successive halving" not in build_report(full).read_text()
