"""A run's health: the stability signals, their thresholds and the rules that judge them.

The one place that says when a run diverges, collapses, overfits or is dominated by D. The
live monitor of a training run (``gannorm.training.diagnostics``), ``gannorm watch`` and the
study's stability table (``gannorm.store.stability``) all read their rules from here, so a
run is judged the same way while it trains and after it.

Statistics (on tensors; torch is imported only where they run, so the command line starts
without it):

- :func:`sign_rate` ``r_t = E[sign(D(x_real))]`` (Karras et al. 2020, "Training generative
  adversarial networks with limited data", eq. 1): the share of real images D calls real
  minus the share it calls fake. Adaptive augmentation steers it to a target (0.6); D
  overfits when it sits near 1.
- :func:`overfit_gap` ``r_v = (E[D(x_train)] - E[D(x_heldout)]) / (E[D(x_train)] - E[D(G(z))])``
  (the same paper, eq. 1): 0 when D scores held-out images like training images, 1 when it
  scores them like generated ones.
- :func:`diversity_ratio`: mean pairwise L2 distance of generated images over that of
  real ones (both on the [0, 1] scale): 1 = as diverse as the data, near 0 = G outputs
  nearly one image.

Rules (:class:`Monitor`): each signal is a rule over a diagnostic's values; a signal warns
only after it stayed past its threshold for ``patience`` consecutive diagnostics
(hysteresis), and its onset is the first diagnostic of that streak. Every threshold is a
field of :class:`HealthConfig` (``train.health.<field>`` in a run's config) whose comment
gives its reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import GannormError

#: the signals a rule judges, in the order they are reported
DIVERGENCE, COLLAPSE, OVERFIT, D_WINS = "divergence", "collapse", "overfit", "d_wins"
SIGNALS = (DIVERGENCE, COLLAPSE, OVERFIT, D_WINS)
#: what a guard may do when a signal warns
ACTIONS = ("warn", "stop", "rollback")

#: metric names of the diagnostics (metrics.jsonl, TensorBoard)
GRAD_G, GRAD_D, GRAD_INPUT = "diag/grad_G", "diag/grad_D", "diag/grad_input_real"
SV_G, SV_D = "diag/sv_max_G", "diag/sv_max_D"
RT, GAP, D_TRAIN, D_HELDOUT, D_GEN = "diag/r_t", "diag/r_v", "diag/d_train", "diag/d_heldout", "diag/d_gen"
DIVERSITY = "diag/diversity"
#: the values whose growth is the divergence signal: the top singular values of the weights
#: move slowly in a healthy run (at most 2.6x their early reference over 1,000 iterations, at most 1.26x per 100 iterations; at
#: most 5.4x, growing linearly, in unnormalised runs at 10-100x the default learning rate
#: that did not diverge, benchmarks/RESULTS.md). The last step's parameter-gradient norms swing 20x in healthy runs
#: and D's input gradient keeps growing where D is not normalised (10x its reference within
#: 900 healthy iterations, measured every 20): for those only a non-finite value counts
GROWTH_KEYS = (SV_D, SV_G)
#: the values whose not being finite is a divergence
FINITE_KEYS = (GRAD_D, GRAD_G, GRAD_INPUT, SV_D, SV_G)


@dataclass
class HealthConfig:
    """Thresholds of the health rules (``train.health.<name>=value``)."""
    patience: int = 3  # consecutive diagnostics past a threshold before a warning: one noisy diagnostic is not a trend
    diverge_growth: float = 10.0  # divergence: a top singular value (D's or G's) this many times its reference (median of the first diagnostics); healthy runs stayed within 2.6x over 1,000 iterations, unnormalised runs at 100x the default learning rate reach 5.4x in 1,000 iterations
    reference_diagnostics: int = 3  # diagnostics whose median is the reference of diverge_growth
    # a blow-up is exponential: long before 10x, a top singular value rises fast and steadily.
    # Past diverge_floor x its reference and rising faster than diverge_rise per 100 iterations
    # (measured from the previous diagnostic, so the rule does not depend on the interval),
    # patience times in a row, it warns. An unconstrained critic under SGD rose 27-58% per 10
    # iterations (11-97x per 100) over the 40 iterations before its weights blew up; healthy
    # runs rose at most 1.26x per 100 (G with Adam 7e-4, which passes 2x by 1,000 iterations),
    # linear growth at 100x the default learning rate 1.1-1.2x (benchmarks/RESULTS.md)
    diverge_floor: float = 2.0  # divergence by rise: a top singular value above this many times its reference ...
    diverge_rise: float = 2.0  # ... rising faster than this factor per 100 iterations since the previous diagnostic
    collapse_ratio: float = 0.5  # collapse (the damage): diversity ratio below this (the study's table flags it too)
    collapse_warn: float = 0.7  # collapse warning: diversity ratio below this ...
    collapse_drop: float = 0.75  # ... and below this share of its best so far (an untrained G starts low; only a fall warns)
    # overfit: D calls nearly all of its training images real (r_t above overfit_rt) while its
    # held-out images drift towards the generated ones (r_v above overfit_gap). Without
    # augmentation r_t sits at 0.9-1.0 early in every run (ADA's target 0.6 assumes augmentation
    # steering it there), and r_v alone reached 0.19 in healthy runs while D overfitting 200
    # images peaked at 0.16-0.33; what set the 200-image runs apart was both held together:
    # r_t > 0.85 with r_v > 0.10 for 3+ consecutive diagnostics (6 of 6 runs as logged, 5 of 6
    # at every 100 iterations), which 30 runs on 2,000 images never did (2 at most). One of those held r_t 0.94-0.97 with r_v 0.093-0.113, hence 0.10
    # and not lower. Calibrated on one small dataset, mostly with RMSProp 1e-4 (benchmarks/RESULTS.md)
    overfit_rt: float = 0.85  # overfit: r_t = E[sign D(x_train)] above this (D calls more than 92.5% of its training images real) ...
    overfit_gap: float = 0.10  # ... and r_v = (E D_train - E D_heldout) / (E D_train - E D_gen) above this
    overfit_gap_alone: float = 0.3  # a loss without a decision boundary at 0 (WGAN's critic) has no r_t: r_v alone above this (healthy runs' r_v reached 0.19)
    worse_by: float = 0.10  # the running reconstruction error "got worse" when it rose by more than this share
    last_steps: int = 5  # D wins outright when its loss stays below loss.WIN_SHARE * chance level over this many logged steps

    @classmethod
    def names(cls) -> List[str]:
        return [f.name for f in fields(cls)]


def check_health_config(h: HealthConfig, where: str = "train.health") -> None:
    """One-line errors for thresholds out of their range."""
    for name in ("patience", "reference_diagnostics", "last_steps"):
        if getattr(h, name) < 1:
            raise GannormError(f"{where}.{name} must be >= 1, got {getattr(h, name)}")
    for name in ("diverge_growth", "diverge_floor", "diverge_rise"):
        if not getattr(h, name) > 1:
            raise GannormError(f"{where}.{name} must be > 1 (a factor of growth), got {getattr(h, name)}")
    for name in ("collapse_ratio", "collapse_warn", "collapse_drop", "overfit_gap", "overfit_gap_alone", "worse_by"):
        if not getattr(h, name) > 0:
            raise GannormError(f"{where}.{name} must be > 0, got {getattr(h, name)}")
    if not -1 < h.overfit_rt < 1:
        raise GannormError(f"{where}.overfit_rt must be in (-1, 1) (r_t is a mean of signs), got {h.overfit_rt}")


# ----------------------------------------------------------------------------- statistics

def sign_rate(real_logits) -> Any:
    """``r_t = E[sign(D(x_real))]`` (Karras et al. 2020, eq. 1) of D's raw outputs on real
    images, as a 0-d tensor on their device (no host sync). Shared by the diagnostics and by
    adaptive augmentation, which accumulates it over its own steps."""
    return real_logits.detach().float().sign().mean()


def overfit_gap(d_train: float, d_heldout: float, d_gen: float) -> float:
    """``r_v = (E[D_train] - E[D_heldout]) / (E[D_train] - E[D_gen])`` (Karras et al. 2020,
    eq. 1); NaN when D scores training and generated images alike (no scale to judge by)."""
    den = d_train - d_gen
    return (d_train - d_heldout) / den if abs(den) > 1e-12 else math.nan


def mean_pairwise_distance(x) -> float:
    """Mean L2 distance over the ordered pairs of distinct images (rows of ``x``, flattened)."""
    import torch

    x = x.flatten(1).double()
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def diversity_ratio(generated, real) -> float:
    """Mean pairwise distance of generated / of real images (both on the [0,1] scale)."""
    return mean_pairwise_distance(generated) / max(mean_pairwise_distance(real), 1e-12)


# ----------------------------------------------------------------------------- whole-run rules (the study's table)

def d_wins(metrics: List[Dict], loss, last: int = HealthConfig.last_steps) -> Optional[bool]:
    """D wins outright at each of the ``last`` logged steps, judged by ``loss.d_wins`` (the
    loss's own scale: BCE's probabilities, hinge's margins); None for a loss without a chance
    level (WGAN's critic, MMD, BEGAN), not a false flag."""
    rows = [m for m in metrics if "d_loss" in m][-last:]
    if not rows:
        return False
    verdicts = [loss.d_wins(float(m["d_loss"])) for m in rows]
    if any(v is None for v in verdicts):
        return None
    return all(verdicts)


def worse_count(values: List[float], by: float = HealthConfig.worse_by) -> int:
    """How often the running reconstruction error rose by more than ``by`` (relative) from one test to the next."""
    return sum(1 for a, b in zip(values, values[1:]) if math.isfinite(a) and b > a * (1 + by))


def collapsed(diversity: Optional[float], ratio: float = HealthConfig.collapse_ratio) -> bool:
    """The damage a collapse warning comes before: a diversity ratio under ``collapse_ratio``."""
    return diversity is not None and diversity < ratio


# ----------------------------------------------------------------------------- the live rules

@dataclass
class Judgement:
    """One rule's reading of one diagnostic: past its threshold or not, the value and the threshold."""
    past: bool
    value: float
    threshold: float
    text: str  # "diagnostic = value > threshold", what a warning line says


@dataclass
class Event:
    """A warning (its streak reached ``patience``), a clearing, or the guard's action."""
    kind: str  # warning | cleared | rollback | stop
    signal: str
    iteration: int  # the diagnostic that raised it
    onset: int  # the first diagnostic of the streak
    value: float
    threshold: float
    text: str

    def line(self) -> str:
        if self.kind == "warning":
            return f"health warning: {self.signal} since iteration {self.onset} ({self.text})"
        if self.kind == "cleared":
            return f"health: {self.signal} cleared at iteration {self.iteration} (since {self.onset})"
        return f"guard: {self.kind} on {self.signal} (since iteration {self.onset}) at iteration {self.iteration}: {self.text}"

    def to_dict(self) -> Dict[str, Any]:
        return {"event": self.kind, "signal": self.signal, "iteration": self.iteration, "onset": self.onset,
                "value": _json_float(self.value), "threshold": _json_float(self.threshold), "text": self.text}


def _json_float(v: float):
    return v if math.isfinite(v) else str(v)


def _f(values: Dict[str, Any], key: str) -> Optional[float]:
    v = values.get(key)
    if v is None:
        return None
    try:
        return float(v)  # metrics.jsonl writes a non-finite value as "nan"/"inf"
    except (TypeError, ValueError):
        return None


class Monitor:
    """Applies the rules to each diagnostic in turn and keeps every signal's streak.

    ``loss``: the run's adversarial loss (its ``chance_d_loss`` says whether D's output has a
    decision boundary at 0, which r_t and the D-wins rule need). ``observe(iteration, values)``
    returns the events of that diagnostic: a ``warning`` when a streak reaches
    ``patience``, a ``cleared`` when a warned signal falls back."""

    def __init__(self, health: Optional[HealthConfig] = None, loss=None):
        self.h = health or HealthConfig()
        self.loss = loss
        self.streak: Dict[str, int] = {s: 0 for s in SIGNALS}
        self.onset: Dict[str, Optional[int]] = {s: None for s in SIGNALS}
        self.warned: Dict[str, bool] = {s: False for s in SIGNALS}
        self.reference: Dict[str, List[float]] = {k: [] for k in GROWTH_KEYS}
        self.last: Dict[str, Tuple[int, float]] = {}  # each growth key's (iteration, value) at the previous diagnostic
        self.best_diversity = -math.inf

    # -- state (saved in checkpoints so hysteresis and references survive a resume)
    def state_dict(self) -> Dict[str, Any]:
        return {"streak": dict(self.streak), "onset": dict(self.onset), "warned": dict(self.warned),
                "reference": {k: list(v) for k, v in self.reference.items()},
                "last": {k: list(v) for k, v in self.last.items()}, "best_diversity": self.best_diversity}

    def load_state_dict(self, s: Dict[str, Any]) -> None:
        if not s:
            return
        for name in ("streak", "onset", "warned"):
            getattr(self, name).update({k: v for k, v in s.get(name, {}).items() if k in SIGNALS})
        self.reference.update({k: [float(x) for x in v] for k, v in s.get("reference", {}).items()
                               if k in self.reference})
        self.last = {k: (int(v[0]), float(v[1])) for k, v in s.get("last", {}).items()
                     if k in GROWTH_KEYS and isinstance(v, (list, tuple)) and len(v) == 2}
        self.best_diversity = float(s.get("best_diversity", -math.inf))

    def reset(self) -> None:
        """Forget every streak (after a rollback: the run restarts from a healthy state)."""
        for s in SIGNALS:
            self.streak[s], self.onset[s], self.warned[s] = 0, None, False
        self.last = {}  # the run goes back to earlier weights: no rise to measure against them

    # -- the rules
    @property
    def has_boundary(self) -> bool:
        """D's output has a decision boundary at 0 (a loss with a chance level: BCE, hinge, LSGAN)."""
        return self.loss is None or getattr(self.loss, "chance_d_loss", None) is not None

    def judge(self, values: Dict[str, Any], iteration: Optional[int] = None) -> Dict[str, Judgement]:
        """Each rule's reading of one diagnostic at ``iteration`` (rules whose inputs are missing
        are left out; without the iteration, the divergence rule reads growth only)."""
        h, out = self.h, {}
        div = self._divergence(values, iteration)
        if div is not None:
            out[DIVERGENCE] = div
        d = _f(values, DIVERSITY)
        if d is not None:
            best = max(self.best_diversity, d) if math.isfinite(d) else self.best_diversity
            past = (not math.isfinite(d)) or (d < h.collapse_warn and d < h.collapse_drop * best)
            out[COLLAPSE] = Judgement(past, d, h.collapse_warn,
                                      f"diversity ratio {d:.3f} < {h.collapse_warn:g} and < {h.collapse_drop:g} x "
                                      f"its best {best:.3f}")
        rt, gap = _f(values, RT), _f(values, GAP)
        if gap is not None and (rt is not None or not self.has_boundary):
            if self.has_boundary:
                thr = h.overfit_gap
                rt_past = rt is not None and math.isfinite(rt) and rt > h.overfit_rt
                rt_text = f"r_t {rt:.3f} > {h.overfit_rt:g} and "
            else:  # no r_t to say D is sure of its training images: the gap alone, at a higher bar
                thr, rt_past, rt_text = h.overfit_gap_alone, True, ""
            past = rt_past and math.isfinite(gap) and gap > thr
            out[OVERFIT] = Judgement(past, gap, thr, f"{rt_text}r_v {gap:.3f} > {thr:g}")
        dl = _f(values, "d_loss")
        if dl is not None and self.loss is not None and hasattr(self.loss, "d_wins"):
            w = self.loss.d_wins(dl)
            if w is not None:
                thr = self.loss.WIN_SHARE * self.loss.chance_d_loss
                out[D_WINS] = Judgement(bool(w), dl, thr, f"d_loss {dl:.4g} < {thr:.3g}")
        return out

    def _divergence(self, values: Dict[str, Any], iteration: Optional[int]) -> Optional[Judgement]:
        """A non-finite diagnostic; or a top singular value past ``diverge_growth`` x its
        reference, or past ``diverge_floor`` x it and rising faster than ``diverge_rise`` per 100
        iterations since the previous diagnostic, ``(v / v_prev) ** (100 / (t - t_prev))``. Of
        D's and G's values, the one past (else the one grown most) speaks."""
        h = self.h
        for k in FINITE_KEYS:
            v = _f(values, k)
            if v is not None and not math.isfinite(v):
                return Judgement(True, math.inf, h.diverge_growth, f"{k} = {v} is not finite")
        readings = []
        for k in GROWTH_KEYS:
            v, ref = _f(values, k), self.reference[k]
            if v is None or len(ref) < h.reference_diagnostics:
                continue
            base = sorted(ref)[len(ref) // 2]
            if base <= 0:
                continue
            g, prev = v / base, self.last.get(k)
            rate = None
            if prev is not None and iteration is not None and iteration > prev[0] and prev[1] > 0 and v > 0:
                rate = (v / prev[1]) ** (100.0 / (iteration - prev[0]))
            text = f"{k} = {v:.4g}, {g:.3g}x its reference"
            if g <= h.diverge_growth and g > h.diverge_floor and rate is not None and rate > h.diverge_rise:
                readings.append(Judgement(True, g, h.diverge_floor,
                                          f"{text} > {h.diverge_floor:g}x and rising {rate:.3g}x per 100 iterations "
                                          f"since iteration {prev[0]} > {h.diverge_rise:g}x"))
            else:
                readings.append(Judgement(g > h.diverge_growth, g, h.diverge_growth, f"{text} > {h.diverge_growth:g}x"))
        return max(readings, key=lambda j: (j.past, j.value), default=None)

    def observe(self, iteration: int, values: Dict[str, Any]) -> List[Event]:
        judged = self.judge(values, iteration)
        events = []
        for s, j in judged.items():
            if j.past:
                if self.streak[s] == 0:
                    self.onset[s] = iteration
                self.streak[s] += 1
                if self.streak[s] >= self.h.patience and not self.warned[s]:
                    self.warned[s] = True
                    events.append(Event("warning", s, iteration, self.onset[s], j.value, j.threshold, j.text))
            else:
                if self.warned[s]:
                    # the judgement's text states the rule as if past ("x > t"): a cleared event says what holds now
                    events.append(Event("cleared", s, iteration, self.onset[s], j.value, j.threshold,
                                        f"{s} no longer past its rule ({j.value:.4g} against {j.threshold:g})"))
                self.streak[s], self.onset[s], self.warned[s] = 0, None, False
        self._learn(iteration, values)
        return events

    def _learn(self, iteration: int, values: Dict[str, Any]) -> None:
        for k in GROWTH_KEYS:
            v = _f(values, k)
            if v is not None and math.isfinite(v):
                self.last[k] = (iteration, v)
                if len(self.reference[k]) < self.h.reference_diagnostics:
                    self.reference[k].append(v)
        d = _f(values, DIVERSITY)
        if d is not None and math.isfinite(d):
            self.best_diversity = max(self.best_diversity, d)

    def earliest_onset(self, signals: Iterable[str] = SIGNALS) -> Optional[int]:
        """The onset of the oldest running streak among ``signals`` (None when none runs)."""
        onsets = [self.onset[s] for s in signals if self.streak[s] > 0 and self.onset[s] is not None]
        return min(onsets) if onsets else None


def replay(records: Iterable[Dict[str, Any]], health: Optional[HealthConfig] = None, loss=None) -> List[Event]:
    """The events a live monitor would have raised over a run's logged records (every record
    that holds a diagnostic; ``gannorm watch`` reads them from metrics.jsonl)."""
    m = Monitor(health, loss)
    events = []
    for rec in records:
        if any(k.startswith("diag/") for k in rec):
            events += m.observe(int(rec["iteration"]), rec)
    return events
