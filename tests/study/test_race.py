"""The seeds race against its promises, by simulation: over >= 1,000 races of identical methods
the false-best rate over all looks is at most alpha (+ 3 Monte Carlo standard errors); with a
planted difference it names the right winner at the power the design promises and uses fewer
runs on average than the fixed design of the same power. Plus its boundaries, its edge cases
(a diverged method, a budget, futility) and its bad input."""
import math

import numpy as np
import pytest
from scipy import stats

from gannorm.errors import GannormError
from gannorm.study import race as R
from gannorm.store import statistics as S

ALPHA = 0.05


def simulate(design, effects, n_races, seed, noise=0.5):
    """Runs share a seed effect across methods (as real runs of one seed do) plus noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_races):
        seed_eff = rng.normal(size=design.max + 1)
        noise_tab = rng.normal(scale=noise, size=(len(effects), design.max + 1))
        names = [f"m{i}" for i in range(len(effects))]
        out.append(R.run_race(names, design,
                              lambda m, s: seed_eff[s] + effects[int(m[1:])] + noise_tab[int(m[1:]), s]))
    return out


def mcse(p, n):
    return math.sqrt(max(p * (1 - p), 1e-4) / n)


@pytest.mark.parametrize("spending", R.SPENDING)
def test_shares_add_up_and_levels_spend_them(spending):
    """Reference: an independent Brownian-motion simulation (another seed) of the boundaries'
    first-crossing probabilities."""
    d = R.RaceDesign(3, 15, 3, spending=spending)
    assert sum(d.alphas()) == pytest.approx(ALPHA)
    z = np.abs(R._paths(tuple(d.looks()), 200_000, seed=99))
    c = stats.norm.isf(np.asarray(d.levels()) / 2)
    first = (z > c).any(axis=1).mean()
    assert first == pytest.approx(ALPHA, abs=0.003) if spending != "bonferroni" else first <= ALPHA
    if spending == "obrien_fleming":
        assert d.levels()[0] < d.levels()[-1] and d.levels()[-1] > 0.6 * ALPHA


def test_false_best_rate_over_all_looks():
    """1,002 races of 2, 3 and 4 identical methods (334 each), the default design."""
    design = R.RaceDesign(3, 12, 3)
    total = hits = 0
    for k in (2, 3, 4):
        races = simulate(design, [0.0] * k, 334, seed=k)
        hits += sum(r.best is not None for r in races)
        total += len(races)
    rate = hits / total
    assert rate <= ALPHA + 3 * mcse(ALPHA, total), rate


def test_planted_difference_power_and_runs():
    """Two methods, paired differences with mean 0.5 and std 0.71: the fixed design with power
    0.8 needs ``seeds_needed`` seeds each; a race whose max is that plus 2 promises at least
    0.8 (its boundary computation) and delivers it within Monte Carlo error, with fewer runs
    on average."""
    effect, sd = 0.5, 0.5 * math.sqrt(2)
    fixed = S.seeds_needed(effect, sd)
    design = R.RaceDesign(3, fixed + 2, 2)
    promised = design.power(effect, sd)
    assert promised >= 0.8
    races = simulate(design, [0.0, effect], 400, seed=7)
    power = np.mean([r.best == "m0" for r in races])
    wrong = np.mean([r.best == "m1" for r in races])
    runs = np.mean([r.runs for r in races])
    assert power >= promised - 3 * mcse(promised, len(races)), (power, promised)
    assert wrong <= 0.01
    assert runs < 2 * fixed, (runs, 2 * fixed)


def test_a_diverged_method_leaves_and_the_rest_decide():
    design = R.RaceDesign(2, 6, 2)
    vals = {"a": [0.1, 0.11, 0.12, 0.1, 0.11, 0.1], "b": [0.3, 0.31, 0.33, 0.3, 0.32, 0.31]}
    res = R.run_race(["a", "b", "div"], design,
                     lambda m, s: float("nan") if m == "div" else vals[m][s] + 0.001 * s)
    assert "div" in res.looks[0].told_apart
    assert res.best == "a" and res.runs < 3 * 6
    everything_failed = R.run_race(["x", "y"], design, lambda m, s: float("nan"))
    assert everything_failed.decision == "undecided" and everything_failed.best is None


def test_only_undecided_methods_get_more_seeds():
    design = R.RaceDesign(3, 9, 3)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=0.01, size=(3, 10))
    means = {"good": 0.0, "close": 0.005, "bad": 1.0}
    res = R.run_race(list(means), design, lambda m, s: means[m] + noise[list(means).index(m), s])
    first = res.looks[0]
    assert first.decision == "continue" and first.told_apart == ["bad"] and "bad" not in first.next_round
    assert all("bad" not in lk.seeds for lk in res.looks[1:])  # no seed after it was told apart
    assert res.runs == 3 + 9 + 9  # bad 3 seeds; good and close to max


def test_budget_and_futility():
    design = R.RaceDesign(3, 20, 3, budget_runs=8)
    with pytest.raises(GannormError, match="cannot fit the first round"):
        design.check_budget(3)
    design = R.RaceDesign(3, 20, 3, budget_runs=7)
    same = R.run_race(["a", "b"], design, lambda m, s: float(s % 2) + (0.01 if m == "a" else 0.0))
    assert same.decision in ("budget", "futile")
    flat = R.run_race(["a", "b"], R.RaceDesign(4, 6, 1), lambda m, s: [0.1, 0.5, 0.2, 0.4, 0.3, 0.35][s]
                      + (0.001 if m == "a" else 0.0) * (-1) ** s)
    assert flat.decision == "futile" and "would need about" in flat.looks[-1].reason


def test_a_budget_in_hours_stops_before_the_round_that_would_pass_it():
    """Two methods not told apart at the first look (3 seeds): the next round is 2 seeds x 2
    methods; at 0.5 hours a run that is 2 hours, so 3 hours used + 2 passes 4.5 but not 5."""
    design = R.parse({"start": 3, "max": 9, "step": 2}, None, {"cpu_hours": 4.5})
    close = {"a": {0: 0.10, 1: 0.20, 2: 0.30}, "b": {0: 0.11, 1: 0.19, 2: 0.31}}
    lk = R.look(close, ["a", "b"], design, 0, 6, hours=(3.0, 0.5))
    assert lk.decision == "budget" and "budget.cpu_hours=4.5" in lk.reason and "3 hours used" in lk.reason
    roomy = R.parse({"start": 3, "max": 9, "step": 2}, None, {"gpu_hours": 5})
    assert R.look(close, ["a", "b"], roomy, 0, 6, hours=(3.0, 0.5)).decision == "continue"
    assert R.look(close, ["a", "b"], design, 0, 6, hours=None).decision == "continue"  # no cost known yet


@pytest.mark.parametrize("seeds, race, budget, message", [
    ({"start": 1, "max": 5}, None, None, "at least 2"),
    ({"start": 5, "max": 3}, None, None, "below seeds.start"),
    ({"start": 3}, None, None, "give both start and max"),
    ({"start": 3, "max": 9, "stpe": 2}, None, None, "unknown key"),
    ({"start": 3, "max": 9}, {"spending": "haybittle"}, None, "must be one of"),
    ({"start": 3, "max": 9}, {"alpha": 1.5}, None, r"in \(0, 1\)"),
    ({"start": 3, "max": 9}, None, {"tpu_hours": 2}, "unknown key"),
    ({"start": 3, "max": 9}, None, {"gpu_hours": 2, "cpu_hours": 1}, "not both"),
    ({"start": 3, "max": 9}, None, {"cpu_hours": 0}, "hours > 0"),
    ({"start": 3, "max": 9}, None, {"cpu_hours": "two"}, "hours > 0"),
])
def test_bad_input_is_one_line(seeds, race, budget, message):
    with pytest.raises(GannormError, match=message) as e:
        R.parse(seeds, race, budget)
    assert "\n" not in str(e.value)
