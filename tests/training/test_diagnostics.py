"""Live diagnostics and the health rules: each number against a from-scratch reference, the
rules against their promise (hysteresis, onset, loss-awareness), and the promise that
measuring changes nothing in training (weights bit-exact with diagnostics on or off, and
an interrupted run resumes exactly with them on)."""
import json
import math

import pytest
import torch

from gannorm import config, health
from gannorm.losses.standard import NonSaturating
from gannorm.losses.wgan import WGAN
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint
from gannorm.training.diagnostics import Diagnostics, finish, weight_layers
from gannorm.nn.spectral import as_matrix, output_dim

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=5", "sample_every=0",
        "test_interval=0", "running_holdout=16", "n_samples=4", "device=cpu"]


# ----------------------------------------------------------------------------- statistics

@pytest.mark.parametrize("logits", [[1.0, -2.0, 3.0, 0.5], [-1.0] * 5, [0.0, 0.0, 2.0], [2.5]])
def test_sign_rate_is_mean_of_signs(logits):
    expect = sum((x > 0) - (x < 0) for x in logits) / len(logits)  # sign(0) = 0
    assert float(health.sign_rate(torch.tensor(logits))) == pytest.approx(expect)


def test_overfit_gap_formula_and_degenerate_case():
    for tr, ho, ge in [(2.0, 1.0, -2.0), (1.0, 1.0, 0.0), (0.5, -0.5, -0.5), (3.0, 2.0, 1.0)]:
        assert health.overfit_gap(tr, ho, ge) == pytest.approx((tr - ho) / (tr - ge))
    assert math.isnan(health.overfit_gap(1.0, 0.0, 1.0))


def test_mean_pairwise_distance_against_loops():
    x = torch.rand(7, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    n = len(x)
    ref = sum(float((x[i] - x[j]).flatten().norm()) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    assert health.mean_pairwise_distance(x) == pytest.approx(ref, rel=1e-9)
    assert health.diversity_ratio(x, x) == pytest.approx(1.0)
    assert health.diversity_ratio(x[:1].repeat(5, 1, 1, 1), x) == pytest.approx(0.0, abs=1e-9)


def test_study_table_uses_the_same_rules():
    from gannorm.store import stability

    assert stability.d_wins is health.d_wins and stability.diversity_ratio is health.diversity_ratio
    assert stability.COLLAPSE_RATIO == health.HealthConfig().collapse_ratio


# ----------------------------------------------------------------------------- measurements

@pytest.mark.parametrize("norm", ["none", "spectral", "bssn"])
def test_singular_values_match_svd(tmp_path, one_thread, norm):
    t = Trainer(config.load(None, TINY + [f"d_norm={norm}", f"g_norm={'none' if norm == 'bssn' else norm}",
                                          "iterations=3"]), tmp_path, quiet=True)
    t.train()
    d = t.diagnostics
    first = vals = finish(d.collect(t.G, t.D, t.sample_generator))
    for _ in range(8):  # warm starts converge: each call continues from the last vector, never down
        prev, vals = vals, finish(d.collect(t.G, t.D, t.sample_generator))
        assert all(vals[k] >= prev[k] * (1 - 1e-5) for k in vals if k.startswith("sv/"))
    for tag, net in (("G", t.G), ("D", t.D)):
        names = list(weight_layers(net))
        assert names
        for name, m, w, _ in names:
            ref = float(torch.linalg.svdvals(as_matrix(w.detach().double(), output_dim(m)))[0])
            # power iteration approaches the top singular value from below
            assert 0.9 * ref <= first[f"sv/{tag}/{name}"] <= ref * (1 + 1e-5), (tag, name)
            # SN/BSSN's own vector is already near the top one; a random start on a matrix with a
            # small spectral gap converges slowly (power iteration's rate is sigma_2 / sigma_1)
            sn = tag == "D" and norm == "spectral"
            assert vals[f"sv/{tag}/{name}"] == pytest.approx(ref, rel=2e-3 if sn else 3e-2), (tag, name)
        assert vals[f"diag/sv_max_{tag}"] == pytest.approx(max(vals[f"sv/{tag}/{n}"] for n, *_ in names))


def test_gradient_and_output_diagnostics_against_direct_computation(tmp_path, one_thread):
    t = Trainer(config.load(None, TINY + ["iterations=3", "d_norm=none", "g_norm=none"]), tmp_path, quiet=True)
    t.train()
    vals = finish(t.diagnostics.collect(t.G, t.D, t.sample_generator))
    grads_d = torch.cat([p.grad.flatten() for p in t.D.parameters() if p.grad is not None])
    grads_g = torch.cat([p.grad.flatten() for p in t.G.parameters() if p.grad is not None])
    assert vals["diag/grad_D"] == pytest.approx(float(grads_d.norm()), rel=1e-5)
    assert vals["diag/grad_G"] == pytest.approx(float(grads_g.norm()), rel=1e-5)
    real = t.diagnostics.real.clone().requires_grad_(True)
    out = t.D(real)
    (gx,) = torch.autograd.grad(out.sum(), real)
    assert vals["diag/grad_input_real"] == pytest.approx(float(gx.flatten(1).norm(dim=1).mean()), rel=1e-5)
    out = out.detach().flatten()
    assert vals["diag/r_t"] == pytest.approx(float((out > 0).float().mean() - (out < 0).float().mean()))
    assert vals["diag/d_train"] == pytest.approx(float(out.mean()), rel=1e-5)
    ho = float(t.D(t.diagnostics.heldout).mean())
    with torch.no_grad():
        t.G.eval()
        fake = t.G(t.diagnostics.z)
        t.G.train()
    ge = float(t.D(fake).mean())
    assert vals["diag/r_v"] == pytest.approx((float(out.mean()) - ho) / (float(out.mean()) - ge), rel=1e-4)
    # diversity: the same statistic the study's table computes, on the fixed real batch
    real01 = t.diagnostics.real.clamp(0, 1)
    assert vals["diag/diversity"] == pytest.approx(health.diversity_ratio(fake.clamp(0, 1), real01), rel=1e-5)


def test_huge_finite_gradients_read_finite():
    """A diverging run's gradients pass 1e19 per element before they overflow: their squares do
    not fit a float32, yet the gradient is finite and its norm must say how large it is."""
    net = torch.nn.Linear(4, 3)
    for p, v in zip(net.parameters(), (3e20, 1.0)):
        p.grad = torch.full_like(p, v)
    want = math.sqrt(12 * 3e20 ** 2 + 3 * 1.0)  # float64 reference
    got = float(Diagnostics.grad_norm(net))
    assert math.isfinite(got) and got == pytest.approx(want, rel=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")  # fp16/bf16 on a CPU without native instructions
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_gradient_norms_are_unscaled_under_mixed_precision(tmp_path, one_thread, amp):
    """fp16 multiplies the losses by the grad scaler's scale (65,536 at the start) before the
    backward pass; the diagnostics must read the gradients after the scaler unscaled them.
    Against the same run in float32: equal up to the half precision's rounding (a still-scaled
    gradient would be 65,536 times larger)."""
    over = TINY + ["iterations=3", "diagnostics_every=1", "log_every=1", "checkpoint_every=0"]
    norms = {}
    for mode in ("off", amp):
        t = Trainer(config.load(None, over + [f"train.amp={mode}"]), tmp_path / mode, quiet=True)
        t.train()
        if mode == "fp16":
            assert t.amp.scalers["d"].get_scale() > 1000  # the scale was in force
        recs = [json.loads(l) for l in (tmp_path / mode / "metrics.jsonl").read_text().splitlines()]
        norms[mode] = [(r["diag/grad_D"], r["diag/grad_G"]) for r in recs if "diag/grad_D" in r]
    assert len(norms[amp]) == 3
    for (d32, g32), (d, g) in zip(norms["off"], norms[amp]):
        assert d == pytest.approx(d32, rel=0.05) and g == pytest.approx(g32, rel=0.05)


def _weights(path):
    s = load_checkpoint(path)
    return {f"{k}.{n}": v for k in ("G", "D", "opt_D", "rng") for n, v in _flat(s[k])}


def _flat(d, prefix=""):
    if torch.is_tensor(d):
        yield prefix, d
    elif isinstance(d, dict):
        for k, v in d.items():
            yield from _flat(v, f"{prefix}.{k}")
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            yield from _flat(v, f"{prefix}.{i}")


@pytest.mark.parametrize("norm", ["batch", "spectral"])
def test_diagnostics_change_nothing_in_training(tmp_path, one_thread, norm):
    """Same weights, optimizer state, buffers (BN statistics, SN vectors) and RNG state with
    diagnostics every 2 iterations as without any."""
    over = TINY + [f"d_norm={norm}", f"g_norm={norm}", "iterations=8", "checkpoint_every=8"]
    Trainer(config.load(None, over + ["diagnostics_every=0"]), tmp_path / "off", quiet=True).train()
    Trainer(config.load(None, over + ["diagnostics_every=2"]), tmp_path / "on", quiet=True).train()
    a, b = _weights(tmp_path / "off/checkpoints/latest.pt"), _weights(tmp_path / "on/checkpoints/latest.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs with diagnostics on"
    logged = [json.loads(l) for l in (tmp_path / "on/metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in logged if "diag/r_t" in r] == [2, 4, 6, 8]


def test_resume_is_exact_with_diagnostics(tmp_path, one_thread):
    # the first leg ends at 4, a diagnostic iteration of both (a run also measures at its end)
    over = TINY + ["d_norm=spectral", "diagnostics_every=2", "checkpoint_every=4", "log_every=1"]
    Trainer(config.load(None, over + ["iterations=10"]), tmp_path / "full", quiet=True).train()
    Trainer(config.load(None, over + ["iterations=4"]), tmp_path / "part", quiet=True).train()
    cfg = config.load(tmp_path / "part" / "config.yaml", ["iterations=10"])
    Trainer(cfg, tmp_path / "part", quiet=True, resume=True).train()
    a, b = _weights(tmp_path / "full/checkpoints/latest.pt"), _weights(tmp_path / "part/checkpoints/latest.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"

    def rows(run):
        return [(r["iteration"], r.get("d_loss"), r.get("diag/r_t"), r.get("diag/grad_D"))
                for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    assert rows(tmp_path / "full") == rows(tmp_path / "part")


def test_checkpoint_from_before_diagnostics_resumes(tmp_path, one_thread):
    """A checkpoint and config.yaml without the new settings and state: defaults, no refusal."""
    import yaml

    run = tmp_path / "old"
    Trainer(config.load(None, TINY + ["iterations=4", "checkpoint_every=4"]), run, quiet=True).train()
    path = run / "checkpoints" / "latest.pt"
    s = load_checkpoint(path)
    del s["health"]
    for k in ("diagnostics_every", "health", "guard", "log_to"):
        del s["config"]["train"][k]
    torch.save(s, path)
    c = yaml.safe_load((run / "config.yaml").read_text())
    for k in ("diagnostics_every", "health", "guard", "log_to"):
        del c["train"][k]
    (run / "config.yaml").write_text(yaml.safe_dump(c))
    t = Trainer(config.load(run / "config.yaml", ["iterations=6", "diagnostics_every=2"]), run, quiet=True, resume=True)
    assert t.guard.lr_scale == 1.0 and t.monitor.streak["collapse"] == 0
    t.train()
    assert t.iteration == 6


# ----------------------------------------------------------------------------- the rules

def _observe(mon, seq, key):
    events = []
    for i, v in enumerate(seq, 1):
        events += mon.observe(i * 100, {key: v})
    return events


def test_hysteresis_needs_patience_and_onset_is_first_of_streak():
    h = health.HealthConfig(patience=3, collapse_warn=0.7, collapse_drop=0.75)
    # diversity: healthy 0.9, one dip (no warning), recovery, then a lasting fall from 600
    seq = [0.9, 0.95, 0.5, 0.93, 0.92, 0.5, 0.45, 0.4, 0.4, 0.9]
    ev = _observe(health.Monitor(h), seq, health.DIVERSITY)
    assert [(e.kind, e.signal, e.iteration, e.onset) for e in ev] == [
        ("warning", "collapse", 800, 600), ("cleared", "collapse", 1000, 600)]
    assert "since iteration 600" in ev[0].line() and "0.45" not in ev[0].line() and "0.4" in ev[0].line()


def test_collapse_needs_a_fall_not_a_low_start():
    """An untrained G starts with little diversity: rising from there is not a collapse."""
    ev = _observe(health.Monitor(), [0.1, 0.15, 0.2, 0.3, 0.5, 0.6], health.DIVERSITY)
    assert ev == []


def test_divergence_from_growth_and_non_finite():
    h = health.HealthConfig(patience=2, diverge_growth=20, reference_diagnostics=3, diverge_floor=1000)  # growth alone
    seq = [1.0, 2.0, 1.5, 5.0, 19.0, 31.0, 80.0]  # reference = median(1, 2, 1.5) = 1.5; 30 = 20 x 1.5
    for key in health.GROWTH_KEYS:
        ev = _observe(health.Monitor(h), seq, key)
        assert [(e.kind, e.iteration, e.onset) for e in ev] == [("warning", 700, 600)], key
    for key in health.FINITE_KEYS:
        ev = _observe(health.Monitor(h), [1.0, 1.0, 1.0, float("nan"), float("inf")], key)
        assert [(e.kind, e.iteration, e.onset) for e in ev] == [("warning", 500, 400)], key


def _observe_every(mon, seq, key, every):
    events = []
    for i, v in enumerate(seq, 1):
        events += mon.observe(i * every, {key: v})
    return events


def test_divergence_from_a_fast_rise_before_the_growth_threshold():
    """An exponential blow-up warns while still under diverge_growth: past diverge_floor x the
    reference and rising faster than diverge_rise per 100 iterations at each diagnostic of the
    streak. The logged values of an unconstrained critic under SGD (benchmarks/health_evidence.py
    diverge-critic, every 10 iterations) warn at 370, 20 iterations before its weights blew up;
    a healthy G's steady rise (1.2x per 100 iterations), a rise that stalls, or a fast rise under
    the floor does not."""
    h = health.HealthConfig(patience=3)
    blowup = [1.0, 1.0, 1.0, 1.29, 1.65, 1.91, 2.43, 3.26, 5.15]  # at 10, 20, ..., 90
    ev = _observe_every(health.Monitor(h), blowup, health.SV_D, 10)
    assert [(e.kind, e.iteration, e.onset) for e in ev] == [("warning", 90, 70)]
    rate = (5.15 / 3.26) ** 10
    assert f"rising {rate:.3g}x per 100 iterations since iteration 80 > 2x" in ev[0].text
    healthy_g = [0.85, 1.0, 1.22, 1.39, 1.65, 1.89, 2.06, 2.21, 2.33, 2.40, 2.6, 2.8, 3.0]  # group/group G, Adam 7e-4
    for every in (100, 1000):  # the rate is per 100 iterations, whatever the interval
        assert _observe_every(health.Monitor(h), healthy_g, health.SV_G, every) == [], every
    assert _observe_every(health.Monitor(h), blowup, health.SV_D, 100) == []  # the same numbers over 900 iterations
    stalls = [1.0, 1.0, 1.0, 2.5, 5.0, 5.0, 9.0, 9.0]  # doubles, but never three diagnostics in a row
    assert _observe_every(health.Monitor(h), stalls, health.SV_D, 100) == []
    assert _observe_every(health.Monitor(h), [1.0, 1.0, 1.0, 1.3, 1.6, 1.9, 1.99], health.SV_D, 10) == []  # under 2x


@pytest.mark.parametrize("grid", range(40))
def test_rise_rule_equals_its_definition_over_random_sequences(grid):
    """The monitor against the rule written out directly, over random sequences at random
    irregular iterations (patience, floor, rate per 100 iterations, 10x growth)."""
    rng = torch.Generator().manual_seed(grid)
    h = health.HealthConfig(patience=int(torch.randint(1, 4, (1,), generator=rng)))
    seq = (torch.rand(12, generator=rng) * 1.2 + 0.8).cumprod(0).tolist()
    its = torch.randint(5, 200, (12,), generator=rng).cumsum(0).tolist()
    m, events = health.Monitor(h), []
    for it, v in zip(its, seq):
        events += m.observe(it, {health.SV_D: v})
    base = sorted(seq[:3])[1]
    past = [i >= 3 and (v / base > h.diverge_growth or
                        (v / base > h.diverge_floor and (v / seq[i - 1]) ** (100 / (its[i] - its[i - 1])) > h.diverge_rise))
            for i, v in enumerate(seq)]
    want, streak = None, 0
    for i, p in enumerate(past):
        streak = streak + 1 if p else 0
        if streak == h.patience:
            want = (its[i], its[i + 1 - streak])
            break
    got = next(((e.iteration, e.onset) for e in events if e.kind == "warning"), None)
    assert got == want


def test_rise_needs_a_previous_value_and_a_rollback_forgets_it():
    m = health.Monitor(health.HealthConfig(patience=1))
    _observe(m, [1.0, 1.0, 1.0], health.SV_D)
    m2 = health.Monitor(health.HealthConfig(patience=1))
    m2.load_state_dict(json.loads(json.dumps(m.state_dict())))
    assert [e.signal for e in m2.observe(400, {health.SV_D: 2.5})] == ["divergence"]  # 2.5x, up 2.5x in 100
    m.reset()
    assert m.observe(400, {health.SV_D: 2.5}) == []  # after a rollback: nothing to rise from yet


def test_gradient_norms_warn_only_when_not_finite():
    """The last step's gradient norms swing 20x in healthy runs and D's input gradient keeps
    growing without normalization: their growth is no divergence signal, a non-finite value is."""
    h = health.HealthConfig(patience=2)
    for key in (health.GRAD_D, health.GRAD_G, health.GRAD_INPUT):
        assert _observe(health.Monitor(h), [1.0, 1.0, 1.0, 500.0, 800.0, 1e6, 1e9], key) == []
        ev = _observe(health.Monitor(h), [1.0, 1.0, 1.0, 500.0, float("inf"), float("nan")], key)
        assert [(e.iteration, e.onset) for e in ev] == [(600, 500)]


@pytest.mark.parametrize("patience", [2, 3, 4])
@pytest.mark.parametrize("key", health.GROWTH_KEYS)
@pytest.mark.parametrize("spike", [100.0, float("nan"), float("inf")])
def test_one_noisy_diagnostic_never_warns_and_a_lasting_one_does(patience, key, spike):
    """Hysteresis over a grid: a single diagnostic past any rule (a growth spike, NaN, inf)
    between healthy ones raises nothing; the same value held for `patience` diagnostics warns,
    with the onset at the first of them."""
    h = health.HealthConfig(patience=patience)
    healthy = [1.0, 1.1, 0.9, 1.0]
    assert _observe(health.Monitor(h), healthy + [spike] + healthy, key) == []
    ev = _observe(health.Monitor(h), healthy + [spike] * patience + [1.0], key)
    onset = (len(healthy) + 1) * 100
    assert [(e.kind, e.signal, e.onset, e.iteration) for e in ev] == [
        ("warning", "divergence", onset, onset + (patience - 1) * 100),
        ("cleared", "divergence", onset, onset + patience * 100)]


def test_overfit_needs_rt_and_gap_and_is_loss_aware():
    h = health.HealthConfig(patience=2, overfit_rt=0.6, overfit_gap=0.3, overfit_gap_alone=0.45)
    m = health.Monitor(h, NonSaturating())
    rows = [(0.9, 0.1), (0.9, 0.4), (0.5, 0.5), (0.8, 0.35), (0.95, 0.5)]
    ev = []
    for i, (rt, gap) in enumerate(rows, 1):
        ev += m.observe(i * 10, {health.RT: rt, health.GAP: gap})
    assert [(e.kind, e.iteration, e.onset) for e in ev] == [("warning", 50, 40)]
    # WGAN's critic has no decision boundary at 0: r_t says nothing, the gap alone decides
    m = health.Monitor(h, WGAN())
    ev = []
    for i, (rt, gap) in enumerate([(-1.0, 0.5), (-1.0, 0.6)], 1):
        ev += m.observe(i * 10, {health.RT: rt, health.GAP: gap})
    assert [e.kind for e in ev] == ["warning"]
    assert m.judge({"d_loss": 0.0}).get("d_wins") is None  # no chance level: no D-wins flag
    # ... at its own bar (overfit_gap_alone), not the gap that needs r_t beside it
    m = health.Monitor(h, WGAN())
    ev = []
    for i in range(1, 5):
        ev += m.observe(i * 10, {health.RT: 1.0, health.GAP: 0.4})
    assert ev == [] and m.judge({health.GAP: 0.4})[health.OVERFIT].threshold == 0.45


@pytest.mark.parametrize("rt", [math.nan, -1.0, 0.5, 0.85, 0.86, 1.0])
@pytest.mark.parametrize("gap", [math.nan, -0.2, 0.05, 0.10, 0.11, 0.5, math.inf])
def test_overfit_rule_over_a_grid(rt, gap):
    """One diagnostic's overfit judgement against the rule written out: past exactly when
    r_t > overfit_rt and r_v > overfit_gap, both finite (a NaN/inf r_v is no gap to judge)."""
    h = health.HealthConfig()
    j = health.Monitor(h, NonSaturating()).judge({health.RT: rt, health.GAP: gap})[health.OVERFIT]
    expect = math.isfinite(rt) and math.isfinite(gap) and rt > h.overfit_rt and gap > h.overfit_gap
    assert j.past == expect and j.threshold == h.overfit_gap


#: (r_t, r_v) of logged runs at diagnostics every 100 iterations (benchmarks/RESULTS.md, "D overfitting 200
#: training images"): D on 200 images (16 base features, default learning rates), and two healthy runs on
#: 2,000 images: the one whose r_v rose highest (batch norm) and the one that held r_t ~0.95 with r_v near 0.1
PLANT_200 = [(0.906, 0.015), (0.875, 0.066), (0.938, 0.115), (0.938, 0.119), (0.938, 0.126), (0.938, 0.162),
             (0.938, 0.182), (0.938, 0.187), (0.938, 0.162), (0.844, 0.149)]
HEALTHY_BATCH = [(0.969, -0.027), (1.0, -0.053), (1.0, -0.098), (0.938, -0.140), (0.938, -0.113),
                 (0.844, -0.042), (0.656, 0.068), (0.812, 0.166), (0.875, 0.188), (0.938, 0.175)]
HEALTHY_ADAM = [(0.969, -0.091), (0.938, -0.080), (0.969, 0.093), (0.938, 0.113), (0.969, 0.094),
                (1.0, 0.021), (1.0, 0.012), (1.0, 0.005), (1.0, -0.029), (1.0, -0.049)]


def _overfit_events(rows, h=None):
    m = health.Monitor(h or health.HealthConfig(), NonSaturating())
    ev = []
    for i, (rt, gap) in enumerate(rows, 1):
        ev += [(e.kind, e.onset, e.iteration) for e in m.observe(i * 100, {health.RT: rt, health.GAP: gap})
               if e.signal == health.OVERFIT]
    return ev


def test_overfit_defaults_warn_the_plant_and_not_the_healthy_runs():
    assert _overfit_events(PLANT_200) == [("warning", 300, 500), ("cleared", 300, 1000)]
    assert _overfit_events(HEALTHY_BATCH) == [] and _overfit_events(HEALTHY_ADAM) == []
    # the rule before (ADA's r_t target 0.6, r_v > 0.3) never warned the plant
    assert _overfit_events(PLANT_200, health.HealthConfig(overfit_rt=0.6, overfit_gap=0.3)) == []


@pytest.mark.parametrize("spike", [(1.0, 0.5), (1.0, math.inf), (math.nan, 0.5), (0.9, math.nan)])
def test_one_noisy_overfit_diagnostic_never_warns(spike):
    """A single diagnostic past the rule (or NaN) amid a healthy-looking run raises nothing; the
    same value held for `patience` diagnostics warns from its first."""
    calm = [(0.95, 0.0), (0.9, 0.05), (0.7, 0.15)]
    assert _overfit_events(calm + [spike] + calm) == []
    held = [(1.0, 0.5)] * health.HealthConfig().patience
    assert _overfit_events(calm + held + calm)[0] == ("warning", 400, 300 + 100 * len(held))


def test_monitor_state_survives_a_round_trip():
    m = health.Monitor(health.HealthConfig(patience=3))
    _observe(m, [0.9, 0.5, 0.5], health.DIVERSITY)
    m2 = health.Monitor(health.HealthConfig(patience=3))
    m2.load_state_dict(json.loads(json.dumps(m.state_dict())))
    assert [e.onset for e in m2.observe(400, {health.DIVERSITY: 0.5})] == [200]


def test_event_of_a_non_finite_loss_is_strict_json():
    """The guard's event for a non-finite loss has neither a value nor a threshold: health.jsonl
    still holds strict JSON (no bare NaN that other readers reject)."""
    e = health.Event("warning", "divergence", 420, 415, math.nan, math.nan, "g_loss stopped being finite")
    d = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert d["value"] == "nan" and d["threshold"] == "nan" and d["onset"] == 415


def test_a_cleared_event_does_not_state_the_rule_as_past():
    """The warning's text states the rule as past ("r_v 0.150 > 0.1"); the cleared event says the
    signal is back, with the value it has now."""
    m = health.Monitor(health.HealthConfig(), NonSaturating())
    events = []
    for i, (rt, gap) in enumerate(PLANT_200, 1):
        events += [e for e in m.observe(i * 100, {health.RT: rt, health.GAP: gap}) if e.signal == health.OVERFIT]
    warning, cleared = events
    assert " > " in warning.text
    assert cleared.kind == "cleared" and " > " not in cleared.text and "no longer past" in cleared.text
    assert f"{cleared.value:.4g}" in cleared.text
