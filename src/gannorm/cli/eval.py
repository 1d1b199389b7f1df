"""``gannorm eval``: the reconstruction test and sample-quality figures of a run or an exported G.

Its metric flags come from the ``METRICS`` registry (each entry's ``flag``), so a metric
registered by a plug-in appears here with no edit to this file.
"""
from __future__ import annotations

import click

from ..config import DEFAULT_EXTRACTOR, EVAL_N_GEN, REAL_SPLITS
from ..errors import GannormError
from . import checkpoint_option, cli, device_option, echo_err, progress_option


def _metric_names():
    from .. import metrics  # noqa: F401  (the built-in metrics register in METRICS)
    from ..metrics.fidelity import describe_options
    from ..registry import METRICS

    def text(n):
        opts = describe_options(n) if METRICS.attr(n, "kind") == "features" else ""
        return METRICS.help(n).rstrip(".") + (f". Options (--metric-opt {n}.NAME=VALUE): {opts}." if opts else "")

    return [(n, METRICS.attr(n, "flag"), text(n)) for n in METRICS.names() if METRICS.attr(n, "flag")]


def parse_metric_opts(items) -> dict:
    """``("kid.subset_size=100", ...)`` -> ``{"kid": {"subset_size": 100}}``; values are read as
    YAML (numbers, true/false, names), then checked against the metric's options."""
    from ..utils.safe_yaml import safe_load

    out = {}
    for item in items:
        key, eq, raw = item.partition("=")
        metric, dot, name = key.strip().partition(".")
        if not (eq and dot and metric and name):
            raise GannormError(f"--metric-opt {item!r} is not METRIC.OPTION=VALUE (e.g. kid.subset_size=100)")
        try:
            value = safe_load(raw, f"--metric-opt {item!r}") if raw.strip() else None
        except Exception as e:
            raise GannormError(f"--metric-opt {item!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None
        out.setdefault(metric.lower(), {})[name] = value
    return out


class _MetricFlagsCommand(click.Command):
    """The command's own options plus one flag per registered metric."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        have = {o for p in params for o in getattr(p, "opts", [])}
        extra = [click.Option([flag, f"metric_{name}"], is_flag=True, help=text)
                 for name, flag, text in _metric_names() if flag not in have]
        helps = [p for p in params if getattr(p, "name", None) == "help"]
        return extra + [p for p in params if p not in helps] + helps


@cli.command("eval", cls=_MetricFlagsCommand)
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("--steps", type=int, default=None, help="--recon: z-optimisation steps (default: the run's eval.final_steps).")
@checkpoint_option
@click.option("--n-images", type=int, default=None, help="--recon: use only the first N held-out images.")
@click.option("--chunk-size", type=int, default=None, help="--recon: images optimised at once (memory only).")
@click.option("--plot", is_flag=True, help="--recon: write the per-step curve and a grid of (real, reconstruction) pairs.")
@click.option("--restarts", type=int, default=0, show_default=True,
              help="--recon: extra random starts per image, best kept (not the paper's protocol; for multimodal G).")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True,
              help="Features for the sample-quality metrics: efficientnet_lite0[:SIZE] (offline), inception (the FID "
                   "network, weights downloaded once) or inception:PATH (a local pt_inception-2015-12-05 file), "
                   "domain:PATH (gannorm features train).")
@click.option("--n-gen", type=int, default=EVAL_N_GEN, show_default=True, help="Generated images (FID: 10k+ by convention).")
@click.option("--n-real", type=int, default=None, help="Real images (default: all of --real-split).")
@click.option("--real-split", type=click.Choice(REAL_SPLITS), default="train", show_default=True,
              help="Real images: the training split, the held-out final test split, or all.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per feature-extraction batch.")
@click.option("--metric-opt", "metric_opts", multiple=True, metavar="METRIC.OPTION=VALUE",
              help="An option of a metric, e.g. kid.subset_size=100 (repeatable); each metric's options and "
                   "defaults are listed beside its flag.")
@click.option("--kid-subset-size", type=int, default=None, help="The same as --metric-opt kid.subset_size=N.")
@click.option("--no-cache", is_flag=True, help="Recompute the real images' reference statistics.")
@progress_option
@click.option("--data-root", default=None,
              help="Read the real images from here instead of the run's data.root (the data moved).")
@device_option
def eval_cmd(run_dir, steps, checkpoint, n_images, chunk_size, plot, restarts, extractor, n_gen, n_real, real_split,
             batch_size, metric_opts, kid_subset_size, no_cache, data_root, device, progress, **flags):
    """Evaluate a trained run (RUN_DIR, or a file from gannorm export); results go to RUN_DIR/eval/
    (FILE-eval/ beside a file) and are printed. Only --recon and the real side of FID/KID/PR read
    the data."""
    from ..evaluation import evaluate_run_lines, final_recon_test
    from ..metrics.fidelity import feature_metrics
    from ..training import resolve_device

    chosen = [name for name, _, _ in _metric_names() if flags.get(f"metric_{name}")]
    if not chosen:
        raise GannormError(f"nothing to evaluate: pass {', '.join(f for _, f, _ in _metric_names())}")
    options = parse_metric_opts(metric_opts)
    if kid_subset_size is not None:
        options.setdefault("kid", {})["subset_size"] = kid_subset_size
    fidelity = [m for m in chosen if m in feature_metrics()]
    dev = resolve_device(device)
    if fidelity or options:
        for line in evaluate_run_lines(run_dir, metrics=fidelity, options=options, checkpoint=checkpoint,
                                       extractor=extractor, n_gen=n_gen, n_real=n_real, real_split=real_split,
                                       batch_size=batch_size, use_cache=not no_cache, device=dev,
                                       data_root=data_root, log=echo_err, progress=progress):
            click.echo(line)
    if "recon" in chosen:
        ft = final_recon_test(run_dir, steps=steps, checkpoint=checkpoint, n_images=n_images,
                              chunk_size=chunk_size, restarts=restarts, plot=plot, device=dev,
                              data_root=data_root, log=echo_err, progress=progress)
        click.echo(ft.summary)
        for p in ft.figures:
            click.echo(f"wrote {p}")
