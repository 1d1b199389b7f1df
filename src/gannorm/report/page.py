"""Render a study as a page people read: a recommendation generated from the numbers, the
provenance, the final test with its statistics across seeds, how the verdict moves with the
test's z-step budget and checkpoint, training curves, stability, cost, samples of every seed
and labelled reconstructions. One self-contained HTML file plus the figures as PNG.

The page is a Jinja2 template (``templates/page.html.j2``, one include per section, with
autoescaping) filled with plain data: :class:`Page` reads the analysis of the store and gives
each section a dictionary of strings and numbers (a number is formatted here, where its
precision is decided); the templates hold only the markup and the fixed prose.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import jinja2
import numpy as np
import yaml

from .. import config as config_mod
from ..data import load_data, split_for
from ..errors import GannormError
from ..registry import METRICS
from ..store import Store, selection
from ..store import statistics as S
from ..store.final_test import PAPER_IMAGES
from ..store.labels import DRAW_AXIS
from ..store.stability import COLLAPSE_RATIO, LAST_STEPS, WORSE_BY
from ..utils.images import seeded_subset
from . import analysis as A
from . import figures
from .recommend import fmt_ci, fmt_seconds, metric_sentence, recommend, verdict_sentence
from .tuning import verdict_at

RECON_UNIT = "MSE per pixel value, pixels in [0,1]"
#: how the final test's real split reads in the report ("... vs all real training images")
_REAL_WORDS = {"train": "training ", "all": "", "test": "held-out ", "validation": "validation "}

#: the page's templates, shipped inside the package (package data)
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("gannorm.report", "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def quality_label(metric: str, spec=None) -> str:
    """A metric's column label, as its registration gives it (``fid`` -> FID, ``dc`` -> density),
    with its unit and the options of ``spec`` (a final test) that differ from the defaults."""
    label = str(METRICS.attr(metric, "label") or METRICS.attr(metric, "key", metric))
    unit = METRICS.attr(metric, "unit")
    opts = spec.options_text(metric) if spec is not None else ""
    return label + (f" [{unit}]" if unit else "") + (f" ({opts})" if opts else "")


def quality_columns(spec) -> List[Tuple[str, Optional[str], str]]:
    """The final-test table's sample-quality columns as (metric, field, label): each metric's
    value, then the other results its registration names (``logged``: coverage beside density,
    recall beside precision), read from the stored record."""
    cols = []
    for m in (spec.metrics if spec else ()):
        cols.append((m, None, quality_label(m, spec)))
        key = METRICS.attr(m, "key", m)
        cols += [(m, extra, extra) for extra in METRICS.attr(m, "logged", ()) or () if extra != key]
    return cols


def build_report(study_dir: str | Path) -> Path:
    """Write ``study_dir/report/index.html`` and its figures from the study's store alone (the
    runner records the study's settings there; ``gannorm report --study FILE`` records them
    for a store written before it did)."""
    study_dir = Path(study_dir)
    db = study_dir / "study.db"
    if not db.exists():
        raise GannormError(f"{study_dir} holds no study results (no study.db); run 'gannorm study' first")
    store = Store(db)
    try:
        st = A.load(store)
        if not st.runs:
            raise GannormError(f"{db} has no runs yet")
        out = study_dir / "report"
        out.mkdir(exist_ok=True)
        (out / "index.html").write_text(Page(st, study_dir, out).render())
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
    """The page's data, section by section, and its rendering through the templates."""

    def __init__(self, st: A.StudyResults, study_dir: Path, out: Path):
        self.st, self.dir, self.out = st, study_dir, out
        self.cfg = st.config(st.runs[0])
        self.ckpts = st.checkpoints() or ["best"]
        self.verdicts = {(p, c): A.verdict(st, st.groups[p], c) for p in st.panels for c in self.ckpts}
        #: per (panel, checkpoint), one verdict sentence per sample-quality column (the lead and
        #: the final-test tables both show them)
        self.quality_sentences = {(p, c): [self._quality_verdict(p, c, m, fld, label)
                                           for m, fld, label in quality_columns(st.spec)]
                                  for p in st.panels for c in self.ckpts}
        self.budgets = {(p, c): A.budget_table(st, st.groups[p], c) for p in st.panels for c in self.ckpts}
        self.rows = {p: [A.method_row(st, m, rs) for m, rs in st.groups[p].items()] for p in st.panels}

    # ---------------------------------------------------------------- page
    def context(self) -> Dict:
        """Everything the templates show, as plain data (figures are written on the way)."""
        st = self.st
        return {"title": (st.meta.get("study") or {}).get("name") or self.dir.name,
                "panel_key": st.panel_key, "replicate": st.replicate,
                "recommendation": self.recommendation(), "provenance": self.provenance(),
                "final_test": self.final_test(), "tuning": self.tuning(), "race": self.race(),
                "budgets": self.budget_section(), "curves": self.curves(), "stability": self.stability(),
                "samples": self.samples(), "pairs": self.pairs(),
                "not_finished": [{"cell_id": r["cell_id"], "status": r["status"], "iterations": r["iterations"] or 0,
                                  "error": r["error"] or ""} for r in st.runs if r["status"] != "done"],
                "selection": selection_data(st.store)}

    def render(self) -> str:
        return TEMPLATES.get_template("page.html.j2").render(self.context())

    # ---------------------------------------------------------------- recommendation
    def recommendation(self) -> List[str]:
        """The lead paragraphs: per panel, the recommendation on the first checkpoint, the
        sample-quality verdicts on it, and one line per other checkpoint."""
        st, c = self.st, self.ckpts[0]
        out = []
        for panel in st.panels:
            v = self.verdicts[(panel, c)]
            where = f"On {panel}: " if st.panel_key else ""
            if len(self.ckpts) > 1:
                where += f"Scored on the {c} checkpoint: "
            out.append(where + recommend(v, self.rows[panel], self.budgets[(panel, c)], self.caveats()))
            if self.quality_sentences[(panel, c)]:  # they belong in the answer, not only under the table
                out.append(f"Sample quality on the {c} checkpoint: " + " ".join(self.quality_sentences[(panel, c)]))
            for other in self.ckpts[1:]:  # the same runs judged on another checkpoint: its verdict in one line
                out.append(f"Scored on the {other} checkpoint instead: "
                           + verdict_sentence(self.verdicts[(panel, other)]))
        return out

    def caveats(self) -> str:
        cfg, st = self.cfg, self.st
        seeds = sorted({st.seed(r) for r in st.runs})
        ds = st.meta.get("datasets") or []
        data = "; ".join(f"{d['name']} ({d['images']} images)" if d.get("images") else d["name"] for d in ds) \
            or cfg.data.name
        parts = [f"{cfg.train.iterations:,} training iterations (the paper trains 100,000)",
                 f"{len(seeds)} {st.replicate}{'s' if len(seeds) != 1 else ''} per method"
                 + (" (one run at each drawn setting)" if st.replicate == "draw" else ""), f"data: {data}"]
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
    def provenance(self) -> Dict:
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
            labels: Dict[str, List[str]] = {}
            for r in st.runs:
                for k, v in r["labels"].items():
                    if v not in labels.setdefault(k, []):
                        labels[k].append(v)
            rows += [(f"axis {k}", ", ".join(v)) for k, v in labels.items()]
        rows.append(("final test", self.final_test_text()))
        base = (st.meta.get("study") or {}).get("base")
        return {"rows": [(k, str(v)) for k, v in rows], "reduced": "; ".join(self.reduced()),
                "paper_images": PAPER_IMAGES,
                "base": yaml.safe_dump(base, sort_keys=False) if base else _config_text(st.runs)}

    def final_test_text(self) -> str:
        spec, st = self.st.spec, self.st
        held = _images_scored(st)
        steps = sorted({f["steps"] for f in _recon_rows(st) if f["steps"]})
        text = (f"reconstruction error ({RECON_UNIT}) on {', '.join(map(str, sorted(held))) or '?'} held-out images, "
                f"{', '.join(map(str, steps)) or '?'} z-steps (RMSProp from z = 0, Xiang & Li 2017); checkpoints: "
                f"{', '.join(self.ckpts)}")
        if spec and spec.metrics:
            text += (f"; sample quality: {', '.join(quality_label(m, spec) for m in spec.metrics)} with extractor "
                     f"{spec.extractor}, {spec.n_gen} generated vs {spec.n_real or 'all'} real "
                     f"{_REAL_WORDS.get(spec.real_split, spec.real_split + ' ')}images")
        return text

    # ---------------------------------------------------------------- final test
    def final_test(self) -> Dict:
        """Per panel and checkpoint: one row per method (its mark in the verdict, its numbers),
        the verdict sentence and the pairwise comparisons."""
        st = self.st
        quality = quality_columns(st.spec)
        panels = []
        for panel in st.panels:
            tables = []
            for c in self.ckpts:
                v = self.verdicts[(panel, c)]
                rows = []
                for row in self.rows[panel]:
                    s = v.summaries[row.method]
                    rows.append({
                        "cls": "best" if v.best == row.method else (
                            "group" if row.method in v.group and not v.best else ""),
                        "method": row.method,
                        "mark": " (best)" if v.best == row.method else (
                            " (not told apart)" if row.method in v.group and not v.best and len(v.group) > 1 else
                            " (lost)" if row.method in v.lost else
                            " (cannot be best: too many failed runs)" if row.method in v.out else ""),
                        "done": row.n_done, "total": len(row.runs), "ends": v.ends.get(row.method) or "",
                        "mean_std": _mean_std(s), "ci": fmt_ci(s),
                        "quality": [self._quality_cell(row.runs, c, m, fld) for m, fld, _ in quality],
                        "running": _mean_std(S.summarise([A.running_value(st, r, c) for r in row.runs])),
                        "train_time": fmt_seconds(row.train_seconds), "it_per_s": _num(row.it_per_s, 1),
                        "final_time": fmt_seconds(row.final_seconds), "used": self._used(row.runs, c)})
                tables.append({"checkpoint": c, "running_figure": A.RUNNING_FIGURE[c], "rows": rows,
                               "sentence": verdict_sentence(v), "comparisons": comparisons(v),
                               "quality_sentences": self.quality_sentences[(panel, c)]})
            panels.append({"name": panel, "checkpoints": tables})
        return {"text": self.final_test_text(), "panels": panels,
                "quality": [f"{label} ({st.spec.extractor}, {st.spec.n_gen} gen.)" for _, _, label in quality]}

    def _quality_verdict(self, panel, c, metric, field, label) -> str:
        """The verdict on one sample-quality column, by the tests the reconstruction error gets
        (values negated where higher is better, so that "lowest" is best)."""
        v = A.verdict(self.st, self.st.groups[panel], c, needed=False, metric=metric, field=field)
        return metric_sentence(label, v, A.higher_is_better(metric))

    def _quality_cell(self, runs, c, metric, field=None) -> Dict:
        vals = self.st.values(runs, c, metric, field)
        errs = [f for r in runs if (f := self.st.final(r, c, metric)) and f["error"]]
        return {"value": _mean_std(S.summarise(list(vals.values())), 4), "n": len(vals),
                "error": f"{len(errs)} not computed: {errs[0]['error']}" if errs else ""}

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
    def budget_section(self) -> Optional[Dict]:
        st = self.st
        checkpoints = []
        for c in self.ckpts:
            tables = {p: self.budgets[(p, c)] for p in st.panels}
            fig = figures.budgets(st, tables, f"final-test error\n({RECON_UNIT})", self.out / f"budgets-{c}.png")
            if not fig:
                continue
            checkpoints.append({"checkpoint": c, "figure": _img(fig), "tables": [
                {"panel": panel, "places": len(t.stats), "sentence": t.sentence or "",
                 "rows": [{"budget": b, "ranking": [(m, _num(t.stats[m][b].mean)) for m in t.rankings[b]]}
                          for b in t.budgets]}
                for panel, t in tables.items() if t]})
        by_checkpoint = None
        if len(self.ckpts) > 1:
            rows = []
            for panel in st.panels:
                cells = []
                for c in self.ckpts:
                    v = self.verdicts[(panel, c)]
                    order = sorted((s.mean, m) for m, s in v.summaries.items() if s.mean is not None)
                    cells.append(" < ".join(f"{m} {mean:.5f}" for mean, m in order) or "–")
                rows.append({"panel": panel, "rankings": cells})
            by_checkpoint = {"checkpoints": self.ckpts, "rows": rows}
        sp = []
        for c in self.ckpts:
            rho, p, n = A.running_vs_final(st, c)
            what = "lowest running error" if c == "best" else "last running error"
            sp.append(f"{what} vs final test on the {c} checkpoint: " +
                      (f"Spearman ρ = {rho:.2f} ({_p(p)}, n = {n} runs)" if rho is not None and math.isfinite(rho)
                       else f"not enough runs ({n})" if n < 3 else f"undefined, one side is constant ({n} runs)"))
        if not (checkpoints or sp):
            return None
        return {"dropped": self.dropped_note(), "checkpoints": checkpoints, "by_checkpoint": by_checkpoint,
                "spearman": "; ".join(sp)}

    def dropped_note(self) -> str:
        spec = self.st.spec
        if not spec:
            return ""
        dropped = sorted({b for r in self.st.runs for b in spec.budgets(spec.steps_for(self.st.config(r)))[1]})
        return (f" Budgets above the test's steps are dropped: {', '.join(map(str, dropped))}." if dropped else "")

    # ---------------------------------------------------------------- tuning, race
    def tuning(self) -> Optional[Dict]:
        """The tuning view of a study with drawn settings: every draw's score, the expected best
        after k draws with its band, and a verdict at the largest budget all methods share."""
        tun = A.tuning(self.st)
        if tun is None:
            return None
        where = ("the validation split (data.validation, disjoint from training and the final test)"
                 if tun.on_validation else
                 "the running test, inside the held-out final test set (set data.validation to tune on "
                 "images the final test does not use)")
        confirm = self.st.meta.get("confirm")
        path = figures.tuning(tun, f"running-test error\n({RECON_UNIT})", self.out / "tuning.png")
        panels = []
        for panel, curves in tun.curves.items():
            k = min((c.n for c in curves.values()), default=0)
            line = verdict_at(curves, k) if k else None
            best = {m: min(((v, d) for d, v in tun.scores[panel][m].items() if v == v), default=None)
                    for m in curves}
            panels.append({"line": ((panel + ": ") if panel else "") + line if line else "", "rows": [
                {"method": m, "draws": len(tun.scores[panel][m]),
                 "failed": sum(1 for v in tun.scores[panel][m].values() if v != v),
                 "best_draw": b[1] if b else "–", "score": _num(b[0]) if b else "–",
                 "settings": self._draw_settings(panel, m, b[1]) if b else ""} for m, b in best.items()]})
        return {"where": where, "figure": _img(path) if path else "", "panels": panels,
                "confirm": {"seeds": ", ".join(map(str, confirm["settings"]["seeds"])),
                            "raced": bool(confirm["settings"].get("race")),
                            "first": (confirm["settings"]["seeds"] or [None])[0],
                            "iterations": f"{confirm['settings']['iterations']:,}",
                            "lines": confirm["lines"]} if confirm else None}

    def _draw_settings(self, panel: str, method: str, draw: str) -> str:
        """The drawn settings of a draw: the keys the study drew, their values read from one of
        the draw's runs' own saved config."""
        overrides = (((self.st.meta.get("study") or {}).get("axes") or {}).get(DRAW_AXIS) or {}).get(draw) or []
        # every method trains at the same draws: any run of the draw holds its settings
        run = next((r for r in self.st.runs if r["labels"].get(DRAW_AXIS) == draw), None)
        if run is None:
            return ""
        cfg, vals = self.st.config(run).to_dict(), []
        for key in (o.split("=", 1)[0] for o in overrides):
            node = cfg
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            vals.append(f"{key}={node:.3g}" if isinstance(node, float) else f"{key}={node}")
        return ", ".join(vals)

    def race(self) -> Optional[Dict]:
        """A seeds race's rounds: seeds per method at each look, the leader, the look's level,
        who was told apart, and why the race stopped."""
        race = self.st.meta.get("race")
        if not race:
            return None
        d = race["design"]
        return {"start": d["start"], "step": d["step"], "max": d["max"], "alpha": d["alpha"],
                "spending": d["spending"].replace("_", "-"), "budget_runs": d.get("budget_runs"),
                "budget_hours": next((f"{d[k]:g} {k.replace('_', ' ')}" for k in ("cpu_hours", "gpu_hours") if d.get(k)),
                                     None),
                "runs": race["runs"], "fixed_runs": d["max"] * len(race["looks"][0]["seeds"]),
                "looks": [{"look": lk["look"], "seeds": ", ".join(f"{m} {n}" for m, n in lk["seeds"].items()),
                           "leader": lk["leader"], "level": f"{lk['level']:.3g}",
                           "told_apart": ", ".join(lk["told_apart"]) or "–", "decision": lk["decision"],
                           "reason": lk["reason"]} for lk in race["looks"]]}

    # ---------------------------------------------------------------- curves, stability
    def curves(self) -> List[tuple]:
        figs = [("Running reconstruction error (mean ± std over " + self.st.replicate + "s)",
                 figures.curves(self.st, "recon_running", f"running-test error\n({RECON_UNIT})",
                                self.out / "recon_running.png", log=True)),
                ("Discriminator loss", figures.curves(self.st, "d_loss", "D loss", self.out / "d_loss.png", smooth=5)),
                ("Generator loss", figures.curves(self.st, "g_loss", "G loss", self.out / "g_loss.png", smooth=5))]
        return [(title, _img(path)) for title, path in figs if path]

    def stability(self) -> Dict:
        return {"worse_by": f"{WORSE_BY:.0%}", "collapse_ratio": COLLAPSE_RATIO, "last_steps": LAST_STEPS,
                "panels": [{"name": panel, "rows": [
                    {"method": r.method, "runs": len(r.runs), "diverged": r.diverged, "stopped_guard": r.stopped_guard,
                     "stopped_selection": r.stopped_selection, "killed": r.killed, "failed": r.failed,
                     "collapsed": r.collapsed, "d_wins": "n/a" if r.d_wins is None else r.d_wins,
                     "worse": "–" if r.worse is None else r.worse, "diversity": _num(r.diversity, 3)}
                    for r in self.rows[panel]]} for panel in self.st.panels]}

    # ---------------------------------------------------------------- images
    def samples(self) -> List[Dict]:
        st = self.st
        panels = []
        for panel in st.panels:
            methods = st.groups[panel]
            real = _real_grid(next(iter(methods.values())), self.out / f"real-{_slug(panel)}.png")
            out = []
            for m, runs in methods.items():
                seeds = []
                for r in sorted(runs, key=st.seed):
                    src = Path(r["run_dir"] or "") / "samples" / "final.png"
                    seeds.append({"caption": f"{st.replicate} {st.seed(r)}" if st.seed_key else r["cell_id"],
                                  "src": _img(src) if src.exists() else "", "status": r["status"]})
                out.append({"name": m, "seeds": seeds})
            panels.append({"name": panel, "real": _img(real) if real else "", "methods": out})
        return panels

    def pairs(self) -> List[Dict]:
        st, c = self.st, self.ckpts[0]
        out = []
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
                out.append({"name": panel, "figure": _img(fig)})
        return out


# ----------------------------------------------------------------------------- sections from the store

def comparisons(v: S.Verdict) -> List[Dict]:
    """The pairwise comparisons of a verdict, one row each, as the final-test table shows them."""
    out = []
    for c in v.comparisons:
        n = f"{c.n_a}, {c.n_b}" if c.pairs is None else f"{c.pairs} pairs" + (
            "" if c.n_a == c.n_b == c.pairs else f" (of {c.n_a}, {c.n_b} runs)")
        out.append({"a": c.a, "b": c.b, "test": c.test, "n": n, "diff": f"{c.diff:+.5f}", "p": f"{c.p:.3g}",
                    "p_holm": f"{c.p_holm:.3g}", "significant": "yes" if c.significant else "no",
                    "needed": "–" if c.significant else (str(c.seeds_needed) if c.seeds_needed
                                                         else f"> {S.MAX_SEEDS}")})
    return out


def selection_data(store: Store) -> Optional[Dict]:
    """What successive halving decided, as the page's "Selection" section shows it (None when
    the study ran its full grid)."""
    rows, s = selection.load(store)
    if not rows:
        return None
    used, full = int(s.get("iterations_used", 0)), int(s.get("iterations_full_grid", 1))
    return {"how": "Synchronous successive halving" if s.get("scheduler", "asha") == "sync" else "Ray Tune ASHA",
            "metric": s.get("metric", ""), "mode": s.get("mode", "min"), "rungs": s.get("rungs", ""),
            "full_budget": s.get("full_budget"), "keep": s.get("keep", ""), "used": f"{used:,}",
            "per_method": s.get("bracket") == "method",
            "full": f"{full:,}", "share": f"{used / max(full, 1):.0%}",
            "cuts": [{"iteration": c["iteration"], "last_kept": c["last_kept"], "first_stopped": c["first_stopped"],
                      "margin": f"{c['margin']:.3g}", "close": bool(c.get("close")),
                      "se": "no standard error with one seed" if c.get("se") is None else
                      f"standard error {c['se']:.3g}"} for c in selection.cuts(s)],
            "rows": [{"iteration": r["iteration"], "method": r["method"], "rank": r["rank"], "of": r["of"],
                      "value": "-" if r["value"] is None else format(r["value"], ".5g"), "decision": r["decision"]}
                     for r in rows]}


def selection_section(store: Store) -> str:
    """The "Selection" section alone, as HTML (empty when the study ran its full grid)."""
    data = selection_data(store)
    return TEMPLATES.get_template("sections/selection.html.j2").render(selection=data) if data else ""


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


def _recon_rows(st: A.StudyResults) -> List[Dict]:
    """The reconstruction rows of this study's final-test setting (a store keeps the results
    of earlier settings beside them: those are not what this report scores)."""
    return [f for run in st.runs for c in (st.checkpoints() or ["best"]) if (f := st.final(run, c)) is not None]


def _images_scored(st: A.StudyResults) -> set:
    return {f["images"] for f in _recon_rows(st) if f["images"]}


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
