"""The words of a study's report, generated from its numbers: the verdict of the final test
and the recommendation paragraph at the top of the page."""
from __future__ import annotations

from typing import List, Optional

from . import analysis as A
from . import statistics as S


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def fmt_ci(s: S.Summary) -> str:
    return "–" if s.ci is None else f"[{s.ci[0]:.5f}, {s.ci[1]:.5f}]"


def fmt_seconds(v) -> str:
    if v is None:
        return "–"
    return f"{v:.0f} s" if v < 600 else f"{v / 60:.1f} min"


def verdict_sentence(v: S.Verdict) -> str:
    if v.leader is None:
        return "No method has a finished run with this final test."
    if v.best:
        return f"Best: {v.best}, significantly lower than every other method (Holm-corrected, α = {v.alpha})."
    if len(v.summaries) == 1:
        return "One method only: nothing to compare."
    few = [m for m in v.untestable]
    text = f"Cannot be told apart at α = {v.alpha}: {', '.join(v.group)}."
    if few:
        text += f" Fewer than 2 finished runs (no spread to test): {', '.join(few)}."
    return text


def recommend(v: S.Verdict, rows: List["A.MethodRow"], budgets: Optional["A.Budgets"], caveats: str) -> str:
    """The paragraph at the top of the report: which method, by how much, how sure, how stable,
    at what cost, and the caveats - every figure from the study's numbers."""
    if v.leader is None:
        return "No run finished its final test, so the study gives no answer yet. " + caveats
    s = {m: x for m, x in v.summaries.items() if x.mean is not None}
    order = sorted(s, key=lambda m: s[m].mean)
    lead = s[v.leader]
    out = []
    if len(order) == 1:
        out.append(f"Only {v.leader} has finished runs (mean error {lead.mean:.5f}, n = {lead.n}); nothing to compare.")
    elif v.best:
        second = order[1]
        d = s[second].mean - lead.mean
        c = _comp(v, v.best, second)
        out.append(f"Use {v.best}: its held-out reconstruction error is {lead.mean:.5f} (95% CI {fmt_ci(lead)}, "
                   f"n = {lead.n}), {d:.5f} ({d / s[second].mean:.0%}) below the next best, {second} "
                   f"({s[second].mean:.5f}), and significantly lower than every other method "
                   f"({c.test}, Holm-corrected p = {c.p_holm:.2g}).")
    else:
        others = [m for m in v.group if m != v.leader]
        second = min(others, key=lambda m: s[m].mean) if others and all(m in s for m in others) else order[1]
        d = s[second].mean - lead.mean
        c = _comp(v, v.leader, second)
        out.append(f"The study cannot tell {_join(v.group)} apart: {v.leader} has the lowest mean error "
                   f"({lead.mean:.5f}, n = {lead.n}), {d:.5f} ({d / s[second].mean:.0%}) below {second}, but the "
                   f"difference is within the spread between seeds"
                   + (f" ({c.test}, Holm-corrected p = {c.p_holm:.2g})." if c else " (too few runs to test it)."))
        needs = [x for x in v.comparisons if not x.significant and v.leader in (x.a, x.b)]
        n_needed = [x.seeds_needed for x in needs if x.seeds_needed]
        if c and c.seeds_needed:
            out.append(f"At this difference and spread about {c.seeds_needed} seeds per method would be needed to "
                       f"tell {v.leader} from {second} (two-sided t-test, power 0.8); the study has {lead.n}.")
        elif needs and not n_needed:
            out.append("The observed differences are so small against the spread that no practical number of seeds "
                       "would separate them.")
        worse = [m for m in order if m not in v.group]
        if worse:
            out.append(f"Significantly worse: {_join(worse)}.")
    unstable = [f"{r.method}: " + ", ".join(x for x in (
        f"{r.diverged} of {len(r.runs)} diverged" if r.diverged else "",
        f"{r.failed} failed" if r.failed else "",
        f"{r.collapsed} collapsed" if r.collapsed else "",
        f"D won outright in {r.d_wins}" if r.d_wins else "",
        f"running error rose by more than 10% {_times(r.worse)} (all its seeds together)" if r.worse else "")
        if x) for r in rows]
    unstable = [u for u, r in zip(unstable, rows) if r.diverged or r.failed or r.collapsed or r.d_wins or r.worse]
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
