"""Seeds where the answer is undecided: a race that adds seeds only where the verdict needs them.

Study YAML::

    seeds: {start: 3, max: 20, step: 2}   # seeds per method at the first look, the most, added per round
    race: {alpha: 0.05, spending: pocock}  # optional; the defaults
    budget: {runs: 60}                     # optional: stop before a round would pass it
                                           # (or cpu_hours / gpu_hours: the runs' hours, summed)

After each round (a *look*) the methods still in the race are compared, every pair on the
seeds both have, by the paired t-test, Holm-corrected within the look at that look's share
of alpha. A method significantly worse than the leader (the lowest mean) leaves the race:
it is told apart. The race ends when

- every other method has left: the leader is **best**;
- the seeds reach ``max``: **undecided** among those left;
- the seeds-needed estimate (power 0.8) between the leader and its closest rival exceeds
  ``max`` even at an optimistic difference (the upper end of a one-sided 97.5% interval of the
  observed one): **futile**, more seeds would not decide it;
- the next round would pass the budget: **budget**.

Otherwise the leader and the methods not yet told apart from it get ``step`` more seeds.

Looking after every round is a sequential test: the chance of naming a false best over all
looks must stay at most alpha. The design fixes the looks in advance (``start``, ``start +
step``, ..., ``max``: K looks) and spends alpha over them with a spending function ``a(t)``
of the information fraction ``t = n_k / max`` (Lan & DeMets 1983): the boundary ``c_k`` of
look k is set so that a standardized statistic with independent increments (the canonical
joint distribution of group-sequential tests: ``Z_k = W(n_k) / sqrt(n_k)``, W a Brownian
motion) first crosses ``|Z| > c_k`` at look k with probability ``a(t_k) - a(t_{k-1})``. A
pair's Holm-adjusted p-value at look k is compared with the nominal level
``2 (1 - Phi(c_k))`` (the group-sequential Holm procedure). The boundaries are computed by
simulating that Brownian motion (a fixed seed: the same design always gives the same
levels). Spending functions:

- ``obrien_fleming``: ``a(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t))``: spends little early,
  so the last look tests at nearly alpha and the race needs barely more seeds than a fixed
  design for the same power (the default);
- ``pocock``: ``a(t) = alpha * ln(1 + (e - 1) t)``: spends early, stops large differences
  sooner, needs more seeds at the end;
- ``bonferroni``: alpha / K at every look, no simulation (valid by the union bound, the
  most conservative).

The t-tests of a few seeds follow that joint distribution only approximately; the
simulation tests (``tests/study/test_race.py``) check the false-best rate over thousands of
simulated races of identical methods, and the power and runs against the fixed design of
the same power.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from scipy import stats

from ..errors import GannormError
from ..store import statistics as S

SPENDING = ("obrien_fleming", "pocock", "bonferroni")
DEFAULT_SPENDING = "obrien_fleming"
#: Brownian paths simulated to set the boundaries (alpha accurate to about +-0.001 at 0.05)
BOUNDARY_PATHS = 200_000
#: a race is futile when even this one-sided upper bound of the difference would need more than max seeds
FUTILITY_LEVEL = 0.975


@dataclass(frozen=True)
class RaceDesign:
    start: int = 3
    max: int = 20
    step: int = 2
    alpha: float = S.ALPHA
    spending: str = DEFAULT_SPENDING
    budget_runs: Optional[int] = None
    #: hours of runs (each run's wall-clock time, training and final test, summed over runs: CPU
    #: hours with one core per run, GPU hours with one GPU per run) and which of the two was given
    budget_hours: Optional[float] = None
    budget_unit: str = "cpu_hours"

    def __post_init__(self):
        for name in ("start", "max", "step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise GannormError(f"seeds.{name} must be a whole number >= 1, got {v!r}")
        if self.start < 2:
            raise GannormError(f"seeds.start must be at least 2 (a paired test needs 2 seeds), got {self.start}")
        if self.max < self.start:
            raise GannormError(f"seeds.max ({self.max}) is below seeds.start ({self.start}); give max >= start")
        if not 0 < self.alpha < 1:
            raise GannormError(f"race.alpha must be in (0, 1), got {self.alpha}")
        if self.spending not in SPENDING:
            raise GannormError(f"race.spending must be one of {', '.join(SPENDING)}, got {self.spending!r}")
        if self.budget_runs is not None and (isinstance(self.budget_runs, bool) or self.budget_runs < 1):
            raise GannormError(f"budget.runs must be a whole number >= 1, got {self.budget_runs!r}")
        if self.budget_hours is not None and (isinstance(self.budget_hours, bool)
                                              or not isinstance(self.budget_hours, (int, float))
                                              or not self.budget_hours > 0):
            raise GannormError(f"budget.{self.budget_unit} must be a number of hours > 0, got {self.budget_hours!r}")

    def looks(self) -> List[int]:
        """Seeds per method at each look: start, start + step, ..., max."""
        out = list(range(self.start, self.max, self.step))
        return out + [self.max]

    def spent(self, t: float) -> float:
        """Alpha spent up to information fraction ``t`` in [0, 1]."""
        a = self.alpha
        if self.spending == "pocock":
            return a * math.log(1 + (math.e - 1) * t)
        if self.spending == "obrien_fleming":
            return 0.0 if t <= 0 else float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - a / 2) / math.sqrt(t)))
        raise AssertionError

    def alphas(self) -> List[float]:
        """Each look's share of alpha (``a(t_k) - a(t_{k-1})``); they add up to alpha."""
        return list(_shares(self))

    def _shares(self) -> tuple:
        looks = self.looks()
        if self.spending == "bonferroni":
            return (self.alpha / len(looks),) * len(looks)
        cum = [self.spent(n / self.max) for n in looks]
        cum[-1] = self.alpha  # exactly alpha at t = 1 (rounding)
        return tuple(c - p for c, p in zip(cum, [0.0] + cum[:-1]))

    def levels(self) -> List[float]:
        """The nominal two-sided p-value level of each look (see the module doc)."""
        if self.spending == "bonferroni":
            return self.alphas()
        return list(_levels(tuple(self.looks()), tuple(self.alphas())))

    def power(self, effect: float, sd: float, paths: int = 100_000, seed: int = 1) -> float:
        """Power to name the better of two methods when the paired differences have mean
        ``effect`` and std ``sd``: the chance that ``Z_k`` (drift ``effect / sd * sqrt(n_k)``)
        crosses the boundary on the right side at some look, under the canonical joint
        distribution (normal, no futility stop; the simulation tests measure the real race)."""
        z = _paths(tuple(self.looks()), paths, seed) + (effect / sd) * np.sqrt(self.looks())
        c = stats.norm.isf(np.asarray(self.levels()) / 2)
        crossed = np.abs(z) > c
        first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
        hit = first >= 0
        right = np.sign(z[np.arange(len(z)), np.maximum(first, 0)]) == np.sign(effect)
        return float(np.mean(hit & right))

    def check_budget(self, methods: int) -> None:
        """Refuse a budget that cannot fit even the first round, before anything runs."""
        first = self.start * methods
        if self.budget_runs is not None and self.budget_runs < first:
            raise GannormError(f"budget.runs={self.budget_runs} cannot fit the first round ({self.start} seeds x "
                               f"{methods} methods = {first} runs); raise the budget or lower seeds.start")


@functools.lru_cache(maxsize=64)
def _shares(design: RaceDesign) -> tuple:
    return design._shares()


def _paths(looks: tuple, paths: int, seed: int) -> np.ndarray:
    """(paths, K) standardized statistics Z_k = W(n_k) / sqrt(n_k) of a Brownian motion W."""
    n = np.asarray(looks, dtype=float)
    inc = np.random.default_rng(seed).standard_normal((paths, len(n))) * np.sqrt(np.diff(n, prepend=0.0))
    return np.cumsum(inc, axis=1) / np.sqrt(n)


@functools.lru_cache(maxsize=64)
def _levels(looks: tuple, shares: tuple) -> tuple:
    """Nominal two-sided levels so that the first crossing happens at look k with probability
    ``shares[k]`` under the null (boundaries found look by look on simulated paths)."""
    z = np.abs(_paths(looks, BOUNDARY_PATHS, 0))
    alive = np.ones(len(z), dtype=bool)
    levels = []
    for k, share in enumerate(shares):
        target = int(round(share * len(z)))  # paths that should cross first here
        cand = np.sort(z[alive, k])[::-1]
        c = float(cand[target]) if 0 < target < len(cand) else (float("inf") if target <= 0 else 0.0)
        alive &= ~(z[:, k] > c)
        levels.append(float(2 * stats.norm.sf(c)))
    return tuple(levels)


def parse(seeds, race=None, budget=None, where: str = "seeds") -> RaceDesign:
    """A study's ``seeds`` / ``race`` / ``budget`` mappings -> :class:`RaceDesign` (one-line errors)."""
    if not isinstance(seeds, dict):
        raise GannormError(f"{where}: give a mapping {{start: 3, max: 20}} for a race over seeds")
    unknown = set(seeds) - {"start", "max", "step"}
    race, budget = race or {}, budget or {}
    unknown_r = set(race) - {"alpha", "spending"}
    unknown_b = set(budget) - {"runs", "cpu_hours", "gpu_hours"}
    for name, bad, valid in ((where, unknown, "start, max, step"), ("race", unknown_r, "alpha, spending"),
                             ("budget", unknown_b, "runs, cpu_hours, gpu_hours")):
        if bad:
            raise GannormError(f"{name}: unknown key(s) {', '.join(sorted(map(str, bad)))}; valid: {valid}")
    if "start" not in seeds or "max" not in seeds:
        raise GannormError(f"{where}: give both start and max, e.g. {{start: 3, max: 20}}")
    hours = [k for k in ("cpu_hours", "gpu_hours") if k in budget]
    if len(hours) > 1:
        raise GannormError("budget: give cpu_hours or gpu_hours, not both (each is the runs' hours, summed)")
    return RaceDesign(start=seeds["start"], max=seeds["max"], step=seeds.get("step", 2),
                      alpha=race.get("alpha", S.ALPHA), spending=race.get("spending", DEFAULT_SPENDING),
                      budget_runs=budget.get("runs"), budget_hours=budget.get(hours[0]) if hours else None,
                      budget_unit=hours[0] if hours else "cpu_hours")


@dataclass
class Look:
    """One look of a race: who had how many seeds, the comparisons, and what was decided."""
    index: int
    alpha: float
    seeds: Dict[str, int]
    means: Dict[str, float]
    leader: str
    comparisons: List[S.Comparison]
    told_apart: List[str]          # left the race at this look: significantly worse than the leader,
                                   # or every run of it failed
    decision: str                  # continue | best | undecided | futile | budget
    reason: str = ""
    next_round: List[str] = field(default_factory=list)  # the methods that get more seeds


def _finite(d: Dict) -> Dict:
    return {k: v for k, v in d.items() if v is not None and math.isfinite(v)}


def look(results: Dict[str, Dict], active: List[str], design: RaceDesign, index: int,
         runs_so_far: int = 0, hours: Optional[Tuple[float, float]] = None) -> Look:
    """Decide one look from ``results`` ({method: {seed: value}}, lower is better) over the
    methods still ``active``. ``hours``: (hours used so far, mean hours of one run), for a
    budget in hours (the next round's cost is projected from the mean run)."""
    alpha = design.levels()[index]
    # a method none of whose runs finished (every one diverged) has lost: it leaves the race
    lost = [m for m in active if results.get(m) and not _finite(results[m])]
    if len(lost) == len(active):
        return Look(index, alpha, {m: 0 for m in active}, {}, "", [], lost, "undecided",
                    "every run of every method failed: nothing to compare")
    active = [m for m in active if m not in lost]
    data = {m: _finite(results.get(m, {})) for m in active}
    means = {m: float(np.mean(list(v.values()))) if v else float("inf") for m, v in data.items()}
    leader = min(active, key=lambda m: (means[m], m))
    pairs = [(a, b) for i, a in enumerate(active) for b in active[i + 1:]]
    comps = [S.compare(data[a], data[b], a, b) for a, b in pairs]
    tested = [c for c in comps if c is not None]
    for c, p in zip(tested, S.holm([c.p for c in tested]) if tested else []):
        c.p_holm, c.significant = p, p <= alpha
    apart = []
    for c in tested:
        other = c.b if c.a == leader else c.a if c.b == leader else None
        worse = (c.diff < 0) if c.a == leader else (c.diff > 0)
        if other is not None and c.significant and worse:
            apart.append(other)
    apart = lost + apart
    seeds = {m: len(data[m]) for m in active}
    left = [m for m in active if m != leader and m not in apart]
    last = index == len(design.looks()) - 1
    if not left:
        return Look(index, alpha, seeds, means, leader, tested, apart, "best",
                    f"{leader} is significantly better than every other method (look {index + 1}, "
                    f"Holm p at most the look's level {alpha:.3g})")
    if last:
        return Look(index, alpha, seeds, means, leader, tested, apart, "undecided",
                    f"seeds.max={design.max} reached: {leader} and {', '.join(left)} not told apart")
    rival = min(left, key=lambda m: means[m])
    shared = sorted(set(data[leader]) & set(data[rival]))
    if len(shared) >= 2:
        d = np.array([data[rival][s] - data[leader][s] for s in shared])
        sd = float(d.std(ddof=1))
        # optimistic: the upper end of a one-sided 97.5% interval of the difference, so that a
        # noisy small first look does not end a race the true difference would decide
        hopeful = abs(float(d.mean())) + float(stats.t.ppf(FUTILITY_LEVEL, len(d) - 1)) * sd / math.sqrt(len(d))
        need = S.seeds_needed(hopeful, sd) if sd > 0 and math.isfinite(hopeful) else None
        if need is not None and need > design.max:
            return Look(index, alpha, seeds, means, leader, tested, apart, "futile",
                        f"{leader} vs {rival} would need about {need} seeds per method (power 0.8) even "
                        f"at the upper end of the observed difference, more than seeds.max={design.max}")
    nxt = [leader] + left
    added = design.looks()[index + 1] - design.looks()[index]
    if design.budget_runs is not None and runs_so_far + added * len(nxt) > design.budget_runs:
        return Look(index, alpha, seeds, means, leader, tested, apart, "budget",
                    f"the next round ({added} seeds x {len(nxt)} methods) would pass budget.runs="
                    f"{design.budget_runs} ({runs_so_far} runs used)")
    if design.budget_hours is not None and hours is not None:
        used, per_run = hours
        if used + added * len(nxt) * per_run > design.budget_hours:
            return Look(index, alpha, seeds, means, leader, tested, apart, "budget",
                        f"the next round ({added} seeds x {len(nxt)} methods, about {added * len(nxt) * per_run:.2g} "
                        f"hours at the mean run's {per_run:.2g}) would pass budget.{design.budget_unit}="
                        f"{design.budget_hours:g} ({used:.2g} hours used)")
    return Look(index, alpha, seeds, means, leader, tested, apart, "continue", "", nxt)


@dataclass
class RaceResult:
    looks: List[Look]
    runs: int

    @property
    def decision(self) -> str:
        return self.looks[-1].decision

    @property
    def best(self) -> Optional[str]:
        return self.looks[-1].leader if self.decision == "best" else None


def run_race(methods: List[str], design: RaceDesign, draw: Callable[[str, int], float]) -> RaceResult:
    """Run a race: ``draw(method, seed)`` gives one run's score (lower is better). The study's
    runner trains the cells a round asks for; simulations pass a random draw."""
    design.check_budget(len(methods))
    results: Dict[str, Dict[int, float]] = {m: {} for m in methods}
    active, looks, runs = list(methods), [], 0
    ns = design.looks()
    want = {m: ns[0] for m in methods}
    for i in range(len(ns)):
        for m in active:
            for s in range(len(results[m]), want.get(m, 0)):
                results[m][s] = draw(m, s)
                runs += 1
        lk = look(results, active, design, i, runs)
        looks.append(lk)
        if lk.decision != "continue":
            break
        active = lk.next_round
        want = {m: ns[i + 1] for m in active}
    return RaceResult(looks, runs)
