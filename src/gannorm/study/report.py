"""Render a study as a page people read: a recommendation generated from the numbers, the
provenance, the final test with its statistics across seeds, how the verdict moves with the
test's z-step budget and checkpoint, training curves, stability, cost, samples of every seed
and labelled reconstructions. One self-contained HTML file plus the figures as PNG.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import yaml

from .. import config as config_mod
from ..data import load_data, split_for
from ..errors import GannormError
from ..registry import METRICS
from . import analysis as A
from . import figures
from . import selection
from . import statistics as S
from .final_test import PAPER_IMAGES
from .grid import load_study
from .provenance import record_study
from .recommend import fmt_ci, fmt_seconds, recommend, verdict_sentence
from .tuning import verdict_at
from .stability import COLLAPSE_RATIO, LAST_STEPS, WORSE_BY
from .store import Store
from ..utils.images import seeded_subset

RECON_UNIT = "MSE per pixel value, pixels in [0,1]"


def quality_label(metric: str, spec=None) -> str:
    """A metric's column label, as its registration gives it (``fid`` -> FID, ``dc`` -> density),
    with its unit and the options of ``spec`` (a final test) that differ from the defaults."""
    label = str(METRICS.attr(metric, "label") or METRICS.attr(metric, "key", metric))
    unit = METRICS.attr(metric, "unit")
    opts = spec.options_text(metric) if spec is not None else ""
    return label + (f" [{unit}]" if unit else "") + (f" ({opts})" if opts else "")
e = html.escape

CSS = """body{font-family:system-ui,sans-serif;max-width:1240px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.lead{font-size:1.08em;background:#f6f8fa;border-left:4px solid #2e7d32;padding:.8em 1em}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:4px 9px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}.best{font-weight:bold;background:#e8f5e9}.group{background:#fffde7}
img.fig{width:100%;display:block;margin:.5em 0}.grids{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.grids figure{margin:0}.grids img{width:224px;image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:.85em;color:#444;text-align:center}small,.note{color:#555;font-size:.9em}
details pre{background:#f6f8fa;padding:.6em;overflow:auto}.warn{color:#8a4b00}"""


def build_report(study_dir: str | Path, study_file: str | Path | None = None) -> Path:
    study_dir = Path(study_dir)
    db = study_dir / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db); run 'gannorm study' first")
    store = Store(db)
    try:
        if study_file is not None:
            record_study(store, load_study(study_file))
        st = A.load(store)
        if not st.runs:
            raise GannormError(f"{db} has no runs yet")
        out = study_dir / "report"
        out.mkdir(exist_ok=True)
        # successive halving's rungs, when the study was selected that way
        page = Page(st, study_dir, out).render().replace("</body>", selection.render(store) + "</body>")
        (out / "index.html").write_text(page)
        _write_csv(st, out / "final_test.csv")
    finally:
        store.close()
    return out / "index.html"


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _num(v, p=5) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{p}f}"


def _mean_std(s: S.Summary, p=5) -> str:
    if s.mean is None:
        return "–"
    return f"{s.mean:.{p}f}" + ("" if s.std is None else f" ± {s.std:.{p}f}")


class Page:
    def __init__(self, st: A.StudyResults, study_dir: Path, out: Path):
        self.st, self.dir, self.out = st, study_dir, out
        self.cfg = st.config(st.runs[0])
        self.ckpts = st.checkpoints() or ["best"]
        self.verdicts = {(p, c): A.verdict(st, st.groups[p], c) for p in st.panels for c in self.ckpts}
        self.budgets = {(p, c): A.budget_table(st, st.groups[p], c) for p in st.panels for c in self.ckpts}
        self.rows = {p: [A.method_row(st, m, rs) for m, rs in st.groups[p].items()] for p in st.panels}

    # ---------------------------------------------------------------- page
    def render(self) -> str:
        st = self.st
        title = (st.meta.get("study") or {}).get("name") or self.dir.name
        h = [f"<!doctype html><html><head><meta charset='utf-8'><title>gannorm study: {e(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>Study {e(title)}</h1>"]
        h += self.recommendation()
        h += self.provenance()
        h += self.final_tables()
        h += self.tuning_section()
        h += self.race_section()
        h += self.budget_section()
        h += self.curve_section()
        h += self.stability_section()
        h += self.samples_section()
        h += self.pairs_section()
        failed = [r for r in st.runs if r["status"] != "done"]
        if failed:
            h.append("<h2>Runs that did not finish</h2><ul>")
            h += [f"<li>{e(r['cell_id'])}: <b>{e(r['status'])}</b> at iteration {r['iterations'] or 0}: "
                  f"{e(r['error'] or '')}</li>" for r in failed]
            h.append("</ul>")
        h += self.method_note()
        h.append("</body></html>")
        return "\n".join(h)

    def _panel_title(self, panel: str) -> str:
        return f"<h3>{e(self.st.panel_key)} = {e(panel)}</h3>" if self.st.panel_key else ""

    # ---------------------------------------------------------------- recommendation
    def recommendation(self) -> List[str]:
        st, c = self.st, self.ckpts[0]
        h = ["<div class='lead'>"]
        for panel in st.panels:
            v = self.verdicts[(panel, c)]
            where = f"On {e(panel)}: " if st.panel_key else ""
            if len(self.ckpts) > 1:
                where += f"Scored on the {c} checkpoint: "
            h.append(f"<p>{where}{e(recommend(v, self.rows[panel], self.budgets[(panel, c)], self.caveats()))}</p>")
            for other in self.ckpts[1:]:  # the same runs judged on another checkpoint: its verdict in one line
                h.append(f"<p>Scored on the {e(other)} checkpoint instead: "
                         f"{e(verdict_sentence(self.verdicts[(panel, other)]))}</p>")
        h.append("</div>")
        return h

    def caveats(self) -> str:
        cfg, st = self.cfg, self.st
        seeds = sorted({st.seed(r) for r in st.runs})
        ds = st.meta.get("datasets") or []
        data = "; ".join(f"{d['name']} ({d['images']} images)" if d.get("images") else d["name"] for d in ds) \
            or cfg.data.name
        parts = [f"{cfg.train.iterations:,} training iterations (the paper trains 100,000)",
                 f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} per method", f"data: {data}"]
        red = self.reduced()
        if red:
            parts.append("a reduced final test (" + "; ".join(red) + ")")
        return "Caveats: " + ", ".join(parts) + "."

    def reduced(self) -> List[str]:
        if not self.st.spec:
            return []
        held = _images_scored(self.st)
        return self.st.spec.reduced(self.cfg, min(held) if held else None)

    # ---------------------------------------------------------------- provenance
    def provenance(self) -> List[str]:
        st, cfg = self.st, self.cfg
        prov = st.meta.get("provenance") or {}
        rows = []
        if prov:
            rows += [("gannorm", f"{prov.get('gannorm')}" + (f" (git {prov['git_commit']})" if prov.get("git_commit")
                                                             else "")),
                     ("date", prov.get("date")), ("machine", f"CPU {prov.get('cpu')}; GPU {prov.get('gpu')}"),
                     ("torch", f"{prov.get('torch')} (Python {prov.get('python')})")]
            hist = st.meta.get("history") or []
            if len(hist) > 1:
                rows.append(("earlier invocations", "; ".join(
                    f"{x.get('date')}: gannorm {x.get('gannorm')}, {x.get('cpu')}, GPU {x.get('gpu')}" for x in hist[:-1])))
        else:
            rows.append(("provenance", "not recorded: this study was run by an earlier gannorm; run "
                                       "'gannorm study FILE' again (finished cells are kept) to record it"))
        for d in st.meta.get("datasets") or [{"name": cfg.data.name, "root": cfg.data.root, "images": None}]:
            rows.append(("dataset", f"{d['name']}" + (f", root {d['root']}" if d.get("root") else "")
                         + (f", {d['images']:,} images" if d.get("images") else "")))
        m = cfg.model
        rows += [("model", f"{m.name} (base features {m.base_features}, z {m.z_dim}); the axes below set what "
                           f"differs between cells"),
                 ("training", f"{cfg.train.iterations:,} iterations, batch {cfg.train.batch_size}, loss "
                              f"{cfg.train.loss}, optimiser {cfg.optim.name}")]
        axes = (st.meta.get("study") or {}).get("axes")
        if axes:
            rows += [(f"axis {k}", ", ".join(f"{lab}: {' '.join(ov) if isinstance(ov, list) else ov}"
                                            for lab, ov in v.items())) for k, v in axes.items()]
        else:
            labels = {}
            for r in st.runs:
                for k, v in r["labels"].items():
                    labels.setdefault(k, []).append(v) if v not in labels.get(k, []) else None
            rows += [(f"axis {k}", ", ".join(v)) for k, v in labels.items()]
        rows.append(("final test", self.final_test_text()))
        red = self.reduced()
        h = ["<h2>Provenance</h2><table>"] + [f"<tr><th class='l'>{e(k)}</th><td class='l'>{e(str(v))}</td></tr>"
                                               for k, v in rows]
        h.append("</table>")
        if red:
            h.append(f"<p class='warn'>This study uses a reduced final test: {e('; '.join(red))}. The paper's "
                     f"protocol scores {PAPER_IMAGES} held-out images with {config_mod.EvalConfig().final_steps} "
                     f"z-steps.</p>")
        base = (st.meta.get("study") or {}).get("base")
        text = yaml.safe_dump(base, sort_keys=False) if base else _config_text(st.runs)
        h.append(f"<details><summary>base config</summary><pre>{e(text)}</pre></details>")
        return h

    def final_test_text(self) -> str:
        spec, st = self.st.spec, self.st
        held = _images_scored(st)
        steps = sorted({f["steps"] for fs in st.finals.values() for f in fs.values() if f["kind"] == "recon"
                        and f["steps"]})
        text = (f"reconstruction error ({RECON_UNIT}) on {', '.join(map(str, sorted(held))) or '?'} held-out images, "
                f"{', '.join(map(str, steps)) or '?'} z-steps (RMSProp from z = 0, Xiang & Li 2017); checkpoints: "
                f"{', '.join(self.ckpts)}")
        if spec and spec.metrics:
            text += (f"; sample quality: {', '.join(quality_label(m, spec) for m in spec.metrics)} with extractor "
                     f"{spec.extractor}, {spec.n_gen} generated vs {spec.n_real or 'all'} real training images")
        return text

    # ---------------------------------------------------------------- final test
    def final_tables(self) -> List[str]:
        st = self.st
        h = ["<h2>Final test: reconstruction error on held-out images</h2>",
             f"<p class='note'>Lower is better. Mean ± std over seeds with the 95% t confidence interval; the unit "
             f"is a training run. {e(self.final_test_text())}.</p>"]
        quality = list(st.spec.metrics) if st.spec else []
        for panel in st.panels:
            h.append(self._panel_title(panel))
            for c in self.ckpts:
                v = self.verdicts[(panel, c)]
                h.append(f"<h4>checkpoint: {e(c)}{' (the authors’ protocol: lowest running error)' if c == 'best' else ''}"
                         f"</h4>")
                qh = "".join(f"<th>{e(quality_label(m, st.spec))} ({e(st.spec.extractor)}, {st.spec.n_gen} gen.)</th>"
                             for m in quality)
                h.append("<table><tr><th class='l'>method</th><th>runs done / total</th><th>mean ± std</th>"
                         f"<th>95% CI</th>{qh}<th>running test: {A.RUNNING_FIGURE[c]}</th>"
                         "<th>train time / run</th>"
                         "<th>it/s</th><th>final test time / run</th><th class='l'>scored checkpoint</th></tr>")
                for row in self.rows[panel]:
                    s = v.summaries[row.method]
                    cls = " class='best'" if v.best == row.method else (
                        " class='group'" if row.method in v.group and not v.best else "")
                    mark = " (best)" if v.best == row.method else (
                        " (not told apart)" if row.method in v.group and not v.best and len(v.group) > 1 else
                        " (lost)" if row.method in v.lost else
                        " (cannot be best: too many failed runs)" if row.method in v.out else "")
                    ends = v.ends.get(row.method)
                    qcells = "".join(f"<td>{self._quality_cell(row.runs, c, m)}</td>" for m in quality)
                    used = self._used(row.runs, c)
                    h.append(f"<tr{cls}><td class='l'>{e(row.method)}{mark}</td><td>{row.n_done} / {len(row.runs)}"
                             + (f"<br><small class='warn'>{e(ends)}</small>" if ends else "") + f"</td><td>{_mean_std(s)}</td><td>{fmt_ci(s)}</td>{qcells}"
                             f"<td>{_mean_std(S.summarise([A.running_value(st, r, c) for r in row.runs]))}</td>"
                             f"<td>{fmt_seconds(row.train_seconds)}</td><td>{_num(row.it_per_s, 1)}</td>"
                             f"<td>{fmt_seconds(row.final_seconds)}</td><td class='l'>{e(used)}</td></tr>")
                h.append("</table>")
                h.append(f"<p>{e(verdict_sentence(v))}</p>")
                h += comparisons_table(v)
        return h

    def _quality_cell(self, runs, c, metric) -> str:
        vals = self.st.values(runs, c, metric)
        errs = [f for r in runs if (f := self.st.final(r, c, metric)) and f["error"]]
        cell = _mean_std(S.summarise(list(vals.values())), 4) + (f" <small>(n={len(vals)})</small>" if vals else "")
        if errs:
            cell += "<br><small class='warn'>" + e(f"{len(errs)} not computed: {errs[0]['error']}") + "</small>"
        return cell

    def _used(self, runs, c) -> str:
        """Which checkpoint each run's final test scored, at which iterations, and why when it is
        not the one asked for (a run without best.pt is scored on latest.pt)."""
        used: Dict[tuple, List[str]] = {}
        for r in runs:
            f = self.st.final(r, c)
            if f:
                used.setdefault((f["checkpoint_used"], f["note"] or ""), []).append(str(f["checkpoint_iteration"] or "?"))
        return "; ".join(f"{ck} (iteration{'s' if len(its) > 1 else ''} {', '.join(its)})" + (f": {note}" if note else "")
                         for (ck, note), its in used.items()) or "–"

    # ---------------------------------------------------------------- budgets
    def budget_section(self) -> List[str]:
        st = self.st
        h = ["<h2>Does the verdict depend on the test's budget?</h2>",
             "<p class='note'>The final test records the mean error after each budget of z-optimisation steps "
             "(the same optimisation, read at each budget). Ranking: lowest mean error first."
             + e(self.dropped_note()) + "</p>"]
        any_table = False
        for c in self.ckpts:
            tables = {p: self.budgets[(p, c)] for p in st.panels}
            fig = figures.budgets(st, tables, f"final-test error\n({RECON_UNIT})", self.out / f"budgets-{c}.png")
            if not fig:
                continue
            any_table = True
            h.append(f"<h4>checkpoint: {e(c)}</h4><img class='fig' src='{_img(fig)}'>")
            for panel in st.panels:
                t = tables[panel]
                if not t:
                    continue
                h.append(self._panel_title(panel))
                h.append("<table><tr><th>z-steps</th>" + "".join(f"<th>{i + 1}.</th>" for i in range(len(t.stats)))
                         + "</tr>")
                for b in t.budgets:
                    h.append(f"<tr><td>{b}</td>" + "".join(
                        f"<td class='l'>{e(m)} {_num(t.stats[m][b].mean)}</td>" for m in t.rankings[b]) + "</tr>")
                h.append("</table>")
                h.append(f"<p><b>{e(t.sentence)}</b></p>" if t.sentence else
                         "<p>The ranking is the same at every budget.</p>")
        if len(self.ckpts) > 1:
            pc = "<th class='l'>panel</th>" if st.panel_key else ""
            h.append(f"<h4>Best-running checkpoint vs last checkpoint</h4><table><tr>{pc}" +
                     "".join(f"<th class='l'>ranking on {e(c)}</th>" for c in self.ckpts) + "</tr>")
            for panel in st.panels:
                cells = []
                for c in self.ckpts:
                    v = self.verdicts[(panel, c)]
                    order = sorted((s.mean, m) for m, s in v.summaries.items() if s.mean is not None)
                    cells.append(" < ".join(f"{m} {mean:.5f}" for mean, m in order) or "–")
                pc = f"<td class='l'>{e(panel)}</td>" if st.panel_key else ""
                h.append(f"<tr>{pc}" + "".join(f"<td class='l'>{e(x)}</td>"
                                                                                  for x in cells) + "</tr>")
            h.append("</table>")
        sp = []
        for c in self.ckpts:
            rho, p, n = A.running_vs_final(st, c)
            what = "lowest running error" if c == "best" else "last running error"
            sp.append(f"{what} vs final test on the {c} checkpoint: " +
                      (f"Spearman ρ = {rho:.2f} ({_p(p)}, n = {n} runs)" if rho is not None and math.isfinite(rho)
                       else f"not enough runs ({n})" if n < 3 else f"undefined, one side is constant ({n} runs)"))
        h.append("<p><b>Is the running test a good guide?</b> Rank correlation over all finished runs of the study: "
                 + e("; ".join(sp)) + ". ρ near 1: the running test orders runs as the final test does.</p>")
        return h if any_table or sp else []

    def dropped_note(self) -> str:
        spec = self.st.spec
        if not spec:
            return ""
        dropped = sorted({b for r in self.st.runs for b in spec.budgets(spec.steps_for(self.st.config(r)))[1]})
        return (f" Budgets above the test's steps are dropped: {', '.join(map(str, dropped))}." if dropped else "")

    # ---------------------------------------------------------------- curves, stability
    def tuning_section(self) -> List[str]:
        """The tuning view of a study with drawn settings: every draw's score, the expected best
        after k draws with its band, and a verdict at the largest budget all methods share."""
        tun = A.tuning(self.st)
        if tun is None:
            return []
        where = ("the validation split (data.validation, disjoint from training and the final test)"
                 if tun.on_validation else
                 "the running test, inside the held-out final test set (set data.validation to tune on "
                 "images the final test does not use)")
        h = ["<h2>Tuning: how good each method gets for a given budget of draws</h2>",
             f"<p>Each method was trained at the same randomly drawn settings (draws paired across methods). "
             f"A draw's score is its lowest running reconstruction error on {e(where)}; a failed draw counts "
             f"as the worst score (it used the budget). The expected best after k draws is Dodge et al. "
             f"2019's closed form over the draws, with a 95% bootstrap band (the view of Lucic et al. "
             f"2018).</p>"]
        confirm = self.st.meta.get("confirm")
        if confirm:
            h.append(f"<p><b>Tune, then confirm:</b> the verdict above is on the confirmation runs only: each "
                     f"method's best draw retrained with fresh seeds ({', '.join(map(str, confirm['settings']['seeds']))}) "
                     f"for {confirm['settings']['iterations']:,} iterations.</p><ul>"
                     + "".join(f"<li>{e(line)}</li>" for line in confirm["lines"]) + "</ul>")
        path = figures.tuning(tun, f"running-test error\n({RECON_UNIT})", self.out / "tuning.png")
        if path:
            h.append(f"<img class='fig' src='{_img(path)}'>")
        for panel, curves in tun.curves.items():
            k = min((c.n for c in curves.values()), default=0)
            line = verdict_at(curves, k) if k else None
            if line:
                h.append(f"<p>{e((panel + ': ') if panel else '')}{e(line)}</p>")
            best = {m: min(((v, d) for d, v in tun.scores[panel][m].items() if v == v), default=None)
                    for m in curves}
            h.append("<table><tr><th class='l'>method</th><th>draws</th><th>failed</th><th>best draw</th>"
                     "<th>its score</th><th>its settings</th></tr>")
            for m, b in best.items():
                n = len(tun.scores[panel][m])
                failed = sum(1 for v in tun.scores[panel][m].values() if v != v)
                settings = self._draw_settings(panel, m, b[1]) if b else ""
                h.append(f"<tr><td class='l'>{e(m)}</td><td>{n}</td><td>{failed}</td>"
                         f"<td>{e(b[1]) if b else '–'}</td><td>{_num(b[0]) if b else '–'}</td>"
                         f"<td class='l'>{e(settings)}</td></tr>")
            h.append("</table>")
        return h

    def race_section(self) -> List[str]:
        """A seeds race's rounds: seeds per method at each look, the leader, the look's level,
        who was told apart, and why the race stopped."""
        race = self.st.meta.get("race")
        if not race:
            return []
        d = race["design"]
        h = ["<h2>Seeds race</h2>",
             f"<p class='note'>Seeds were added only to the methods not yet told apart from the leader: "
             f"{d['start']} seeds per method at the first look, {d['step']} more per round, at most {d['max']}; "
             f"alpha {d['alpha']} spent over the looks by the {e(d['spending'].replace('_', '-'))} function "
             f"(gannorm.study.race), Holm within a look"
             + (f"; budget {d['budget_runs']} runs" if d.get("budget_runs") else "") + ".</p>",
             "<table><tr><th>look</th><th class='l'>seeds per method</th><th class='l'>leader</th><th>level</th>"
             "<th class='l'>told apart</th><th class='l'>decision</th></tr>"]
        for lk in race["looks"]:
            seeds = ", ".join(f"{m} {n}" for m, n in lk["seeds"].items())
            h.append(f"<tr><td>{lk['look']}</td><td class='l'>{e(seeds)}</td><td class='l'>{e(lk['leader'])}</td>"
                     f"<td>{lk['level']:.3g}</td><td class='l'>{e(', '.join(lk['told_apart']) or '–')}</td>"
                     f"<td class='l'>{e(lk['decision'])}{(': ' + e(lk['reason'])) if lk['reason'] else ''}</td></tr>")
        h.append(f"</table><p>Runs used: {race['runs']} (a fixed design of {d['max']} seeds for every method "
                 f"would use {d['max'] * len(race['looks'][0]['seeds'])}).</p>")
        return h

    def _draw_settings(self, panel: str, method: str, draw: str) -> str:
        """The drawn settings of a draw: the keys the study drew, their values read from one of
        the draw's runs' own saved config."""
        overrides = (((self.st.meta.get("study") or {}).get("axes") or {}).get(A.DRAW_AXIS) or {}).get(draw) or []
        # every method trains at the same draws: any run of the draw holds its settings
        run = next((r for r in self.st.runs if r["labels"].get(A.DRAW_AXIS) == draw), None)
        if run is None:
            return ""
        cfg, vals = self.st.config(run).to_dict(), []
        for key in (o.split("=", 1)[0] for o in overrides):
            node = cfg
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            vals.append(f"{key}={node:.3g}" if isinstance(node, float) else f"{key}={node}")
        return ", ".join(vals)

    def curve_section(self) -> List[str]:
        figs = [("Running reconstruction error (mean ± std over seeds)",
                 figures.curves(self.st, "recon_running", f"running-test error\n({RECON_UNIT})",
                                self.out / "recon_running.png", log=True)),
                ("Discriminator loss", figures.curves(self.st, "d_loss", "D loss", self.out / "d_loss.png", smooth=5)),
                ("Generator loss", figures.curves(self.st, "g_loss", "G loss", self.out / "g_loss.png", smooth=5))]
        h = ["<h2>Training curves</h2><p class='note'>Mean ± std over seeds; where a run stopped early the line is "
             "dashed and averages the runs still going (n in the legend).</p>"]
        for title, path in figs:
            if path:
                h.append(f"<h4>{e(title)}</h4><img class='fig' src='{_img(path)}'>")
        return h

    def stability_section(self) -> List[str]:
        st = self.st
        h = ["<h2>Stability</h2><table><tr><th class='l'>method</th><th>runs</th><th>diverged (non-finite loss)</th>"
             "<th>stopped by the guard</th><th>stopped by halving</th><th>killed</th>"
             "<th>other failures</th><th>collapsed</th><th>D wins outright</th>"
             f"<th>running error worse by &gt;{WORSE_BY:.0%}</th><th>diversity ratio</th></tr>"]
        for panel in st.panels:
            if st.panel_key:
                h.append(f"<tr><td class='l' colspan='11'><b>{e(panel)}</b></td></tr>")
            for r in self.rows[panel]:
                h.append(f"<tr><td class='l'>{e(r.method)}</td><td>{len(r.runs)}</td><td>{r.diverged}</td>"
                         f"<td>{r.stopped_guard}</td><td>{r.stopped_selection}</td><td>{r.killed}</td>"
                         f"<td>{r.failed}</td><td>{r.collapsed}</td>"
                         f"<td>{'n/a' if r.d_wins is None else r.d_wins}</td><td>{'–' if r.worse is None else r.worse}"
                         f"</td><td>{_num(r.diversity, 3)}</td></tr>")
        h.append(f"</table><p class='note'>diverged: the run stopped on a non-finite loss (recorded status). "
                 f"stopped by the guard: the run's stability guard ended it (counts against its method, like "
                 f"diverging). stopped by halving: successive halving ended it (its method lost a rung). killed: "
                 f"ended by a signal from outside; other failures: an error - both are missing data a rerun retries. "
                 f"collapsed: mean pairwise distance of generated samples below {COLLAPSE_RATIO} of real images'. "
                 f"D wins outright: over the last {LAST_STEPS} logged steps D's loss stays below 2% of its value "
                 f"at chance, on the loss's own scale (BCE: 2 ln 2, hinge: 2, LSGAN: (b-a)²/4); n/a for losses "
                 f"without a chance level (WGAN, MMD, BEGAN).</p>")
        return h

    # ---------------------------------------------------------------- images
    def samples_section(self) -> List[str]:
        st = self.st
        h = ["<h2>Samples at the same fixed z (every seed), beside real training images</h2>"]
        for panel in st.panels:
            h.append(self._panel_title(panel))
            methods = st.groups[panel]
            real = _real_grid(next(iter(methods.values())), self.out / f"real-{_slug(panel)}.png")
            for m, runs in methods.items():
                h.append(f"<h4>{e(m)}</h4><div class='grids'>")
                if real:
                    h.append(f"<figure><img src='{_img(real)}'><figcaption>real (training images)</figcaption></figure>")
                for r in sorted(runs, key=st.seed):
                    src = Path(r["run_dir"] or "") / "samples" / "final.png"
                    cap = f"seed {st.seed(r)}" if st.seed_key else r["cell_id"]
                    if src.exists():
                        h.append(f"<figure><img src='{_img(src)}'><figcaption>{e(cap)}</figcaption></figure>")
                    else:
                        h.append(f"<figure><figcaption>{e(cap)}: no samples ({e(r['status'])})</figcaption></figure>")
                h.append("</div>")
        return h

    def pairs_section(self) -> List[str]:
        st, c = self.st, self.ckpts[0]
        h = []
        for panel in st.panels:
            rows = []
            for m, runs in st.groups[panel].items():
                for r in sorted(runs, key=st.seed):
                    f = st.final(r, c)
                    p = Path(r["run_dir"] or "") / "final" / f"pairs-{(f or {}).get('checkpoint_used') or c}.npz"
                    if p.exists():
                        z = np.load(p)
                        rows.append((f"{m}, seed {st.seed(r)}\n{f['checkpoint_used']} checkpoint, error "
                                     f"{_num(f['value'])}", z["real"], z["recon"]))
                        break
            fig = figures.pairs(rows, self.out / f"pairs-{_slug(panel)}.png")
            if fig:
                h.append(self._panel_title(panel))
                h.append(f"<img src='{_img(fig)}' style='max-width:100%'>")
        if h:
            h.insert(0, "<h2>Reconstructions of held-out images (final test, first seed of each method)</h2>")
        return h

    def method_note(self) -> List[str]:
        return ["<h2>Method note</h2><p class='note'>",
                e("Statistics across seeds: the unit is a training run. Per method: mean, sample standard deviation, "
                  "n and the 95% t interval mean ± t(0.975, n-1)·s/√n. Between two methods: a paired t-test on the "
                  "seeds both methods finished, when there are at least two (the table gives the number of pairs) - a "
                  "seed fixes the data order, the z draws and the held-out images, so pairing removes the noise the "
                  "runs share - and Welch's t-test (unequal variances) otherwise. Not the Wilcoxon signed-rank test: "
                  "with n pairs its smallest two-sided p-value is 2/2^n (0.25 for 3 seeds, 0.0625 for 5), so it could "
                  "never find a difference with the seeds a study affords; the t-test assumes roughly normal per-seed "
                  "differences, which few seeds cannot check. All pairs are compared and their p-values corrected "
                  "together by Holm's step-down method (family-wise error 0.05)."),
                "</p><p class='note'>",
                e("The verdict, and how each way a run can end enters it. Finished runs (done) are the sample "
                  "compared above. A method whose every run diverged, was stopped by its stability guard or by "
                  "successive halving has lost: it is named with how its runs ended and the verdict is decided among "
                  "the other methods. A method with a third or more of its runs failed (diverged or stopped by the "
                  "guard) cannot be recommended, whatever its finished runs show; it is named with its failures and "
                  "left out of the race. Killed runs (a signal from outside) and runs that failed with an error are "
                  "missing data, not evidence against their method: they are reported, and rerunning the study "
                  "retries them. Among the methods left in the race, one is marked best only when its mean is lowest, "
                  "it is significantly better than every other one, and every one of them has at least two finished "
                  "runs (a method with fewer has no spread to test, so it blocks the verdict until it is rerun); when "
                  "every other method has lost or failed too often, the one left is best by elimination. Otherwise "
                  "the methods not told apart from the lowest mean are named. Simulated studies of identical methods "
                  "check that this rule names a false best at most 5% of the time."),
                "</p><p class='note'>",
                e("Seeds needed: the smallest n per method for which a two-sided t-test at 0.05/m (m comparisons) "
                  "has power 0.8 against the observed difference with the observed spread (normal approximation "
                  "n ≈ (z(1-α/2) + z(0.8))²·σ²/δ², σ² = var of the paired differences or the sum of both variances, "
                  "refined with the noncentral t, integrated directly where scipy's noncentral t gives no number). "
                  "It is an estimate at the observed values, which are themselves uncertain with few seeds. "
                  "Spearman's ρ: its p-value is the exact permutation p (all n! orderings) up to 9 runs, scipy's t "
                  "approximation above."), "</p>"]


# ----------------------------------------------------------------------------- text from numbers

def comparisons_table(v: S.Verdict) -> List[str]:
    if not v.comparisons:
        return []
    h = ["<table><tr><th class='l'>comparison</th><th>test</th><th>n</th><th>difference of means</th><th>p</th>"
         "<th>p (Holm)</th><th>significant</th><th>seeds needed (power 0.8)</th></tr>"]
    for c in v.comparisons:
        need = "–" if c.significant else (str(c.seeds_needed) if c.seeds_needed else f"> {S.MAX_SEEDS}")
        n = f"{c.n_a}, {c.n_b}" if c.pairs is None else f"{c.pairs} pairs" + (
            "" if c.n_a == c.n_b == c.pairs else f" (of {c.n_a}, {c.n_b} runs)")
        h.append(f"<tr><td class='l'>{e(c.a)} − {e(c.b)}</td><td>{c.test}</td><td>{n}</td>"
                 f"<td>{c.diff:+.5f}</td><td>{c.p:.3g}</td><td>{c.p_holm:.3g}</td>"
                 f"<td>{'yes' if c.significant else 'no'}</td><td>{need}</td></tr>")
    h.append("</table>")
    return h


# ----------------------------------------------------------------------------- helpers

def _p(p: float) -> str:
    """The p-value as the page prints it (Spearman's is exact up to 9 runs, never below 2/9!)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _config_text(runs: List[Dict]) -> str:
    for r in runs:
        p = Path(r["run_dir"] or "") / "config.yaml"
        if p.is_file():
            return f"# config of {r['cell_id']} (the study file was not recorded)\n" + p.read_text()
    return "(not recorded)"


def _images_scored(st: A.StudyResults) -> set:
    return {f["images"] for fs in st.finals.values() for f in fs.values() if f["kind"] == "recon" and f["images"]}


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s) or "all"


def _real_grid(runs: List[Dict], path: Path) -> Optional[Path]:
    """A grid of real training images laid out like the runs' sample grids."""
    import torch
    from torchvision.utils import save_image

    for r in runs:
        p = Path(r["run_dir"] or "") / "config.yaml"
        if not p.is_file():
            continue
        cfg = config_mod.load(p)
        try:
            data = load_data(cfg.data, quiet=True)
        except GannormError:
            return None
        n = cfg.train.n_samples or 64
        train = split_for(cfg.data, len(data)).train
        pick = seeded_subset(train, n, seed=0)
        x = torch.from_numpy(np.ascontiguousarray(data.images[pick])).float() / 255
        save_image(x, path, nrow=int(math.sqrt(len(x))) or 1)
        return path
    return None


def _write_csv(st: A.StudyResults, path: Path) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["panel", "method", "checkpoint", "n_done", "n_runs", "mean", "std", "ci_low", "ci_high", "best",
                    "not_told_apart", "lost", "too_many_failures", "not_finished"])
        for panel in st.panels:
            for c in st.checkpoints() or ["best"]:
                v = A.verdict(st, st.groups[panel], c, needed=False)
                for m, rs in st.groups[panel].items():
                    s = v.summaries[m]
                    w.writerow([panel, m, c, s.n, len(rs), s.mean, s.std, *(s.ci or (None, None)),
                                int(v.best == m), int(m in v.group and not v.best), int(m in v.lost),
                                int(m in v.out), v.ends.get(m, "")])
