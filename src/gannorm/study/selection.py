"""What successive halving decided, rung by rung: kept in the study store, shown in the report.

Table ``rungs``: one row per method and rung it reached (the mean over its seeds there, its
rank among the methods judged at that rung, and whether it continued, was stopped or
finished). Table ``selection``: the settings, the compute used against the full grid, and
per rung (``margin@<iteration>``) how close the cut was.

Synchronous successive halving (Jamieson & Talwalkar 2016, Algorithm 1) decides a rung
once every method still in the race has reached it: :func:`rank_rung` orders the methods
by the mean of the metric over their seeds (a seed that diverged counts as the worst
possible value, so its method ranks last; ties go by name), keeps the best
``ceil(keep * n)`` and stops the rest. The order in which the methods arrived plays no part.

The margin of a cut is the gap between the last method kept (``L``) and the first stopped
(``S``): ``|mean_S - mean_L|``. Its standard error is that of the difference of the two means:
paired on the seeds both have, ``sd(S_i - L_i) / sqrt(n)``; otherwise Welch's
``sqrt(var_L / n_L + var_S / n_S)`` (sample variances); none with one seed. A cut whose
margin is below its standard error is a *close call*: with other seeds it could have gone
the other way.
"""
from __future__ import annotations

import html
import json
import math
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

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


def why(d: Dict, metric: str, eta) -> str:
    keep = f"1/{eta}" if isinstance(eta, int) else str(eta)
    return (f"stopped by successive halving at iteration {d['iteration']} (rung {d['rung'] + 1}): mean {metric} "
            f"over seeds {d['value']:.5g}, rank {d['rank']} of {d['of']} there; the best {keep} continue")


def kept_count(n: int, keep: float) -> int:
    """How many of ``n`` methods a rung keeps: the best ``keep`` fraction, rounded up (at least one)."""
    return max(1, min(n, math.ceil(keep * n - 1e-9)))


def _score(values: Sequence[float]) -> float:
    """A method's value at a rung: the mean over its seeds; a non-finite seed makes it +inf."""
    return math.inf if not values or any(not math.isfinite(v) for v in values) else sum(values) / len(values)


def rank_rung(values: Dict[str, Dict[str, float]], keep: float, mode: str) -> List[Tuple[str, float]]:
    """The methods of one rung, best first: ``values`` is method -> {seed: value} (a diverged
    seed: ``inf`` or ``nan``). Sorted on (not finite, the mean in the better direction, name),
    so the result does not depend on the order the methods came in."""
    scored = {m: _score(list(v.values())) for m, v in values.items()}
    sign = 1 if mode == "min" else -1
    return sorted(scored.items(), key=lambda kv: (not math.isfinite(kv[1]), sign * kv[1] if math.isfinite(kv[1])
                                                  else 0.0, kv[0]))


def margin(last_kept: Dict[str, float], first_stopped: Dict[str, float]) -> Dict:
    """The cut between two methods (seed -> value each): margin, standard error of the
    difference of their means (paired on shared seeds when at least two, else Welch's), and
    whether it is a close call (margin below the standard error)."""
    a, b = last_kept, first_stopped
    ma, mb = _score(list(a.values())), _score(list(b.values()))
    gap = abs(mb - ma) if math.isfinite(ma) and math.isfinite(mb) else math.inf
    shared = sorted(set(a) & set(b))
    se: Optional[float] = None
    if math.isfinite(gap):
        if len(shared) >= 2 and len(shared) == len(a) == len(b):
            se = statistics.stdev([b[k] - a[k] for k in shared]) / math.sqrt(len(shared))
        elif len(a) >= 2 and len(b) >= 2:
            se = math.sqrt(statistics.variance(a.values()) / len(a) + statistics.variance(b.values()) / len(b))
    return {"margin": gap, "se": se, "close": se is not None and gap < se,
            "paired": se is not None and len(shared) >= 2 and len(shared) == len(a) == len(b)}


def decide_rung(k: int, iteration: int, values: Dict[str, Dict[str, float]], keep: float, mode: str,
                final: bool = False) -> Tuple[List[Dict], Optional[Dict]]:
    """Synchronous halving at one rung: the decision rows (as :func:`decide` gives them) and
    the cut's margin record (None at the final rung or when nothing is stopped)."""
    order = rank_rung(values, keep, mode)
    n = kept_count(len(order), keep)
    rows = [{"rung": k, "iteration": iteration, "method": m, "value": v, "rank": i + 1, "of": len(order),
             "decision": "finished" if final else ("continued" if i < n else "stopped")}
            for i, (m, v) in enumerate(order)]
    cut = None
    if not final and n < len(order):
        last, first = order[n - 1][0], order[n][0]
        cut = {"iteration": iteration, "last_kept": last, "first_stopped": first,
               **margin(values[last], values[first])}
    return rows, cut


def save(store: Store, decisions: List[Dict], summary: Dict) -> None:
    """Decision rows and ``selection`` keys (a dict value is stored as JSON)."""
    summary = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in summary.items()}
    with store.db:
        store.db.executescript(SCHEMA)
        store.db.executemany("INSERT OR REPLACE INTO rungs VALUES (?,?,?,?,?,?,?)",
                             [(d["rung"], d["iteration"], d["method"], _finite(d["value"]), d["rank"], d["of"],
                               d["decision"]) for d in decisions])
        store.db.executemany("INSERT OR REPLACE INTO selection VALUES (?,?)", [(k, str(v)) for k, v in summary.items()])


def cuts(summary: Dict) -> List[Dict]:
    """The margin records of a loaded ``selection`` table, by rung."""
    out = [json.loads(v) for k, v in summary.items() if k.startswith("margin@")]
    return sorted(out, key=lambda c: c["iteration"])


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
    how = "Synchronous successive halving" if s.get("scheduler", "asha") == "sync" else "Ray Tune ASHA"
    head = (f"<h2>Selection by successive halving</h2><p>{how} on the mean {html.escape(s.get('metric', ''))} "
            f"over each method's seeds ({html.escape(s.get('mode', 'min'))} is best); rungs at iterations "
            f"{html.escape(s.get('rungs', ''))} of {s.get('full_budget')}, keeping the best {html.escape(s.get('keep', ''))}"
            f" at each{' of its own method' if s.get('bracket') == 'method' else ''}"
            f"{' (each method halves its own drawn settings, so every method keeps the same share of its draws)' if s.get('bracket') == 'method' else ''}"
            f". Compute used: {used:,} training iterations of the full grid's {full:,} "
            f"({used / max(full, 1):.0%}).</p>")
    body = "".join(f"<tr><td>{r['iteration']}</td><td>{html.escape(r['method'])}</td><td>"
                   f"{'-' if r['value'] is None else format(r['value'], '.5g')}</td><td>{r['rank']} / {r['of']}</td>"
                   f"<td>{r['decision']}</td></tr>" for r in rows)
    notes = []
    for c in cuts(s):
        se = "no standard error with one seed" if c.get("se") is None else f"standard error {c['se']:.3g}"
        flag = " <b>close call</b>: the margin is below its standard error" if c.get("close") else ""
        notes.append(f"<li>iteration {c['iteration']}: {html.escape(c['last_kept'])} kept, "
                     f"{html.escape(c['first_stopped'])} stopped, margin {c['margin']:.3g} ({se}){flag}</li>")
    margins = f"<p>The cut at each rung (last kept against first stopped):</p><ul>{''.join(notes)}</ul>" if notes else ""
    return (head + margins + "<table><tr><th>iteration</th><th>method</th><th>mean over seeds</th><th>rank</th>"
            "<th>decision</th></tr>" + body + "</table>")


def _finite(v):
    return v if v is not None and math.isfinite(v) else None
