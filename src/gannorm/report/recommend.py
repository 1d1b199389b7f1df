"""The words of a study's report, generated from its numbers: the verdict of the final test
and the recommendation paragraph at the top of the page."""
from __future__ import annotations

from typing import List, Optional

from . import analysis as A
from ..store import statistics as S


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def fmt_ci(s: S.Summary) -> str:
    return "–" if s.ci is None else f"[{s.ci[0]:.5f}, {s.ci[1]:.5f}]"


def fmt_seconds(v) -> str:
    if v is None:
        return "–"
    return f"{v:.0f} s" if v < 600 else f"{v / 60:.1f} min"


def out_of_race(v: S.Verdict) -> List[str]:
    """One sentence per way a method left the race: the methods that lost (every run failed or
    was stopped by selection) and those with a third or more of their runs failed."""
    out = []
    if v.lost:
        out.append("Lost: " + "; ".join(f"{m} {why}" for m, why in v.lost.items()) + ".")
    if v.out:
        lower = [m for m in v.out if v.leader and v.summaries[m].mean is not None
                 and v.summaries[m].mean < v.summaries[v.leader].mean]
        out.append("Cannot be recommended, a third or more of their runs failed: "
                   + "; ".join(f"{m} ({why})" for m, why in v.out.items()) + "."
                   + (f" {_join(lower)} {'has' if len(lower) == 1 else 'have'} a lower mean error on "
                      f"{'its' if len(lower) == 1 else 'their'} finished runs than {v.leader}, but runs that "
                      f"fail that often are not a method to recommend." if lower else ""))
    return out


def _ends(v: S.Verdict, m: str) -> str:
    return f" ({v.ends[m]})" if v.ends.get(m) else ""


def verdict_sentence(v: S.Verdict) -> str:
    lost = (" " + " ".join(out_of_race(v))) if (v.lost or v.out) else ""
    if v.leader is None:
        if v.lost or v.out:
            return "No method is left with a finished run." + lost
        return "No method has a finished run with this final test."
    if v.best and v.by_elimination:
        return f"Best: {v.best}{_ends(v, v.best)}, the only method left in the race." + lost
    if v.best:
        return (f"Best: {v.best}{_ends(v, v.best)}, significantly lower than every other method"
                f"{' left in the race' if lost else ''} (Holm-corrected, α = {v.alpha})." + lost)
    if len(v.summaries) == 1:
        return "One method only: nothing to compare."
    text = f"Cannot be told apart at α = {v.alpha}: {', '.join(v.group)}."
    if v.untestable:
        text += (" Fewer than 2 finished runs (no spread to test): "
                 + ", ".join(f"{m}{_ends(v, m)}" for m in v.untestable) + ".")
    return text + lost


def metric_sentence(label: str, v: S.Verdict, higher: bool) -> str:
    """One sample-quality column's verdict (the same tests as the reconstruction error's; for a
    metric where higher is better the verdict was taken on the negated values)."""
    way = "higher" if higher else "lower"
    head = f"{label} ({way} is better): "
    if v.leader is None:
        return head + "no finished run has it."
    if len(v.summaries) == 1:
        return head + "one method only."
    if v.best:
        return head + f"best {v.best}, significantly {way} than every other method (Holm-corrected, α = {v.alpha})."
    text = head + f"{v.leader} leads"
    others = [m for m in v.group if m != v.leader]
    if others:
        text += f"; not told apart from it at α = {v.alpha}: {', '.join(others)}"
    if v.worse:
        text += f"; significantly worse than it: {', '.join(v.worse)}"
    if v.untestable:
        text += f"; fewer than 2 runs with it: {', '.join(v.untestable)}"
    return text + "."


def recommend(v: S.Verdict, rows: List["A.MethodRow"], budgets: Optional["A.Budgets"], caveats: str) -> str:
    """The paragraph at the top of the report: which method, by how much, how sure, how stable,
    at what cost, and the caveats - every figure from the study's numbers."""
    if v.leader is None and not (v.lost or v.out):
        return "No run finished its final test, so the study gives no answer yet. " + caveats
    race = v.in_race
    s = {m: x for m, x in v.summaries.items() if x.mean is not None and m in race}
    order = sorted(s, key=lambda m: s[m].mean)
    out = []
    if v.leader is None:
        out.append("No method can be recommended: none is left in the race with a finished run.")
    elif v.best and v.by_elimination:
        lead = s[v.best]
        out.append(f"Use {v.best}{_ends(v, v.best)}: it is the only method left in the race, every other one lost "
                   f"or failed too often (below), so no test between methods decided it; its held-out "
                   f"reconstruction error is {lead.mean:.5f} (95% CI {fmt_ci(lead)}, n = {lead.n}).")
    elif len(order) == 1:
        lead = s[v.leader]
        if len(v.summaries) == 1:
            out.append(f"Only {v.leader} has finished runs (mean error {lead.mean:.5f}, n = {lead.n}); "
                       f"nothing to compare.")
        else:
            out.append(f"Only {v.leader}{_ends(v, v.leader)} is left in the race with finished runs (mean error "
                       f"{lead.mean:.5f}, n = {lead.n}), too few to test against anything.")
    elif v.best:
        lead = s[v.best]
        second = order[1]
        d = s[second].mean - lead.mean
        c = _comp(v, v.best, second)
        out.append(f"Use {v.best}{_ends(v, v.best)}: its held-out reconstruction error is {lead.mean:.5f} (95% CI "
                   f"{fmt_ci(lead)}, n = {lead.n}), {d:.5f} ({d / s[second].mean:.0%}) below the next best, {second} "
                   f"({s[second].mean:.5f}), and significantly lower than every other method"
                   f"{' left in the race' if v.lost or v.out else ''} ({c.test}, Holm-corrected p = {c.p_holm:.2g}).")
    else:
        lead = s[v.leader]
        others = [m for m in v.group if m != v.leader and m in s]
        if not others:  # the leader beats every testable method, but one has no finished run yet
            out.append(f"{v.leader} has the lowest mean error ({lead.mean:.5f}, n = {lead.n}) and is significantly "
                       f"lower than every other method with finished runs, but "
                       + ", ".join(f"{m}{_ends(v, m)}" for m in v.untestable)
                       + " has too few finished runs to be tested: rerun before choosing.")
        else:
            second = min(others, key=lambda m: s[m].mean)
            d = s[second].mean - lead.mean
            c = _comp(v, v.leader, second)
            out.append(f"The study cannot tell {_join(v.group)} apart: {v.leader}{_ends(v, v.leader)} has the lowest "
                       f"mean error ({lead.mean:.5f}, n = {lead.n}), {d:.5f} ({d / s[second].mean:.0%}) below "
                       f"{second}, but the difference is within the spread between seeds"
                       + (f" ({c.test}, Holm-corrected p = {c.p_holm:.2g})." if c else " (too few runs to test it)."))
            needs = [x for x in v.comparisons if not x.significant and v.leader in (x.a, x.b)
                     and {x.a, x.b} <= set(v.group)]
            n_needed = [x.seeds_needed for x in needs if x.seeds_needed]
            if c and c.seeds_needed:
                out.append(f"At this difference and spread about {c.seeds_needed} seeds per method would be needed "
                           f"to tell {v.leader} from {second} (two-sided t-test, power 0.8); the study has {c.n}"
                           + (" pairs." if c.pairs is not None else "."))
            elif needs and not n_needed:
                out.append("The observed differences are so small against the spread that no practical number of "
                           "seeds would separate them.")
            untested = [m for m in v.untestable if m not in v.group]
            if untested:
                out.append("Too few finished runs to test: " + ", ".join(f"{m}{_ends(v, m)}" for m in untested) + ".")
    if v.worse:
        out.append(f"Significantly worse: {_join(v.worse)}.")
    out += out_of_race(v)
    missing = [f"{m}: {v.ends[m]}" for m in race if v.ends.get(m) and m not in v.untestable
               and m != v.best and m != v.leader]
    if missing:
        out.append("Runs that did not finish: " + "; ".join(missing) + ".")
    if any(r.killed or r.failed for r in rows):
        out.append("Killed runs and runs that failed with an error are missing data, not evidence against their "
                   "method: running the study again retries them.")
    unstable = [f"{r.method}: " + ", ".join(x for x in (
        f"{r.diverged} of {len(r.runs)} diverged" if r.diverged else "",
        f"{r.stopped_guard} of {len(r.runs)} stopped by the guard" if r.stopped_guard else "",
        f"{r.failed} failed" if r.failed else "",
        f"{r.killed} killed" if r.killed else "",
        f"{r.collapsed} collapsed" if r.collapsed else "",
        f"D won outright in {r.d_wins}" if r.d_wins else "",
        f"running error rose by more than 10% {_times(r.worse)} (all its seeds together)" if r.worse else "")
        if x) for r in rows]
    unstable = [u for u, r in zip(unstable, rows)
                if r.diverged or r.stopped_guard or r.failed or r.killed or r.collapsed or r.d_wins or r.worse]
    out.append("Stability: " + ("; ".join(unstable) if unstable else "no run diverged, collapsed or let D win outright")
               + ".")
    cost = [f"{r.method} {r.it_per_s:.1f} it/s ({fmt_seconds(r.train_seconds)} per run)" for r in rows if r.it_per_s]
    if cost:
        out.append("Cost: " + ", ".join(cost) + ".")
    if budgets and budgets.sentence:
        out.append("The ranking depends on the test's z-step budget: " + budgets.sentence)
    out.append(caveats)
    return " ".join(out)


def _comp(v: S.Verdict, a: str, b: str) -> Optional[S.Comparison]:
    return next((c for c in v.comparisons if {c.a, c.b} == {a, b}), None)


def _join(names: List[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
