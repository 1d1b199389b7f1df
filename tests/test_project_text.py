"""What users read (the package's messages, help and docstrings, README.md, the benchmarks)
names no path of a development checkout and no internal tracking references."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "src" / "gannorm").rglob("*.py")) + [ROOT / "README.md"]
ALL_TEXT = SHIPPED + sorted((ROOT / "benchmarks").glob("*.*")) + sorted((ROOT / "tests").rglob("*.py"))
DEV_PATH = re.compile(r"\.\./shared|/work/")
TRACKING = re.compile(r"\bissue[ -]?\d|\bour spec\b|\bspec section\b|\bthe spec\b|\bthe issue's\b", re.I)


def _hits(paths, pattern):
    return [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in paths
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]


def test_shipped_text_names_no_development_path():
    assert not _hits(SHIPPED, DEV_PATH)


def test_no_internal_tracking_references():
    assert not _hits([p for p in ALL_TEXT if p != Path(__file__).resolve()], TRACKING)
