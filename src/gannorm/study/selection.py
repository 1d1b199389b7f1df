"""What successive halving decided, rung by rung: kept in the study store, shown in the report.

Table ``rungs``: one row per method and rung it reached (the mean over its seeds there, its
rank among the methods judged at that rung, and whether it continued, was stopped or
finished). Table ``selection``: the settings and the compute used against the full grid.
"""
from __future__ import annotations

import html
import math
from typing import Dict, List

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS rungs (rung INTEGER, iteration INTEGER, method TEXT, value REAL, rank INTEGER,
  of INTEGER, decision TEXT, PRIMARY KEY (iteration, method));
CREATE TABLE IF NOT EXISTS selection (key TEXT PRIMARY KEY, value TEXT);
"""


def decide(rungs: List[int], full: int, mode: str, histories: Dict[str, List]) -> List[Dict]:
    """Per method and rung: value, rank among the methods that reached it, and the outcome
    (continued past it, stopped at it, or finished the full budget)."""
    out = []
    for k, it in enumerate(rungs + [full]):
        here = {m: dict(map(tuple, h))[it] for m, h in histories.items() if it in dict(map(tuple, h))}
        order = sorted(here, key=lambda m: here[m] if mode == "min" else -here[m])
        for m in order:
            last = max(i for i, _ in histories[m])
            decision = "finished" if it == full else ("continued" if last > it else "stopped")
            out.append({"rung": k, "iteration": it, "method": m, "value": here[m], "rank": order.index(m) + 1,
                        "of": len(order), "decision": decision})
    return out


def why(d: Dict, metric: str, eta: int) -> str:
    return (f"stopped by successive halving at iteration {d['iteration']} (rung {d['rung'] + 1}): mean {metric} "
            f"over seeds {d['value']:.5g}, rank {d['rank']} of {d['of']} there; the best 1/{eta} continue")


def save(store: Store, decisions: List[Dict], summary: Dict) -> None:
    with store.db:
        store.db.executescript(SCHEMA)
        store.db.executemany("INSERT OR REPLACE INTO rungs VALUES (?,?,?,?,?,?,?)",
                             [(d["rung"], d["iteration"], d["method"], _finite(d["value"]), d["rank"], d["of"],
                               d["decision"]) for d in decisions])
        store.db.executemany("INSERT OR REPLACE INTO selection VALUES (?,?)", [(k, str(v)) for k, v in summary.items()])


def load(store: Store):
    store.db.executescript(SCHEMA)
    rows = store.db.execute("SELECT rung, iteration, method, value, rank, of, decision FROM rungs "
                            "ORDER BY iteration, rank").fetchall()
    keys = ("rung", "iteration", "method", "value", "rank", "of", "decision")
    return [dict(zip(keys, r)) for r in rows], dict(store.db.execute("SELECT key, value FROM selection").fetchall())


def render(store: Store) -> str:
    """The report's "Selection" section (empty when the study ran its full grid)."""
    rows, s = load(store)
    if not rows:
        return ""
    used, full = int(s.get("iterations_used", 0)), int(s.get("iterations_full_grid", 1))
    head = (f"<h2>Selection by successive halving</h2><p>Ray Tune ASHA on the mean {html.escape(s.get('metric', ''))} "
            f"over each method's seeds ({html.escape(s.get('mode', 'min'))} is best); rungs at iterations "
            f"{html.escape(s.get('rungs', ''))} of {s.get('full_budget')}, keeping the best {html.escape(s.get('keep', ''))}"
            f" at each. Compute used: {used:,} training iterations of the full grid's {full:,} "
            f"({used / max(full, 1):.0%}).</p>")
    body = "".join(f"<tr><td>{r['iteration']}</td><td>{html.escape(r['method'])}</td><td>"
                   f"{'-' if r['value'] is None else format(r['value'], '.5g')}</td><td>{r['rank']} / {r['of']}</td>"
                   f"<td>{r['decision']}</td></tr>" for r in rows)
    return (head + "<table><tr><th>iteration</th><th>method</th><th>mean over seeds</th><th>rank</th>"
            "<th>decision</th></tr>" + body + "</table>")


def _finite(v):
    return v if v is not None and math.isfinite(v) else None
