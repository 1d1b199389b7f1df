from __future__ import annotations

import shutil
from pathlib import Path

import click

from .. import config as config_mod
from ..errors import GannormError
from ..utils.lock import LOCK_NAME

from . import _TrainCommand, cli


def summary_lines(res) -> list:
    """The run's final status and the guard's rollbacks, as the summary prints them:
    ``done: N iterations in RUN`` or ``stopped: <reason> at <iteration>; N iterations in RUN``,
    then one line per rollback (when, the signal and its onset, where to, the learning-rate scale)."""
    sep = ":" if res.status == "done" else ";"
    lines = [f"{res.status}{sep} {res.iteration} iterations in {res.run_dir}"]
    rollbacks = res.rollbacks or []
    if rollbacks:
        lines.append(f"guard: {len(rollbacks)} rollback(s)")
    for r in rollbacks:
        lines.append(f"  rollback at iteration {r['iteration']} on {r['signal']} (since iteration {r['onset']}): "
                     f"back to iteration {r['to']}, learning rates x{r['lr_scale']:g}")
    return lines


@cli.command(cls=_TrainCommand)
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Where to write the run (default runs/<data>[-<root folder>][-<model>]-<norm>[-<loss>]-NNNN, "
                   "named from the resolved config, e.g. runs/folder-shapes-spectral-0003).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this directory from its latest checkpoint.")
@click.option("--allow-config-change", is_flag=True,
              help="With --resume: accept settings that differ from the checkpoint's beyond length, intervals, "
                   "device and speed (each change is recorded in RUN_DIR/config_changes.yaml).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config, overrides, run_dir, resume_dir, allow_config_change, quiet):
    """Train a GAN. CONFIG is a YAML file (optional: the defaults train the paper's 100,000
    iterations on the bundled data; configs/quickstart.yaml is a short run);
    OVERRIDES are key=value pairs, e.g. d_norm=batch train.iterations=500.

    With --resume RUN_DIR the run's own config.yaml is used (plus OVERRIDES, e.g. a larger
    train.iterations), and every state is restored: weights, optimizers, EMA,
    normalization buffers, RNGs, data order and the iteration count. Only the run's length,
    intervals, device and speed settings may differ from the checkpoint's config, unless
    --allow-config-change.
    """
    from .. import plugins  # noqa: F401  (fills the registries that validation asks)
    from ..evaluation import make_trainer
    from ..training import RunDir
    from ..training.rundir import new_run_dir

    if config and "=" in config and not Path(config).exists():
        overrides, config = (config,) + tuple(overrides), None
    if resume_dir:
        run = RunDir.existing(resume_dir)
        if config:
            raise GannormError("give either CONFIG or --resume RUN_DIR (a resumed run uses its own config.yaml)")
        cfg = config_mod.load(run.config, list(overrides))
        trainer = make_trainer(cfg, run.root, quiet=quiet, resume=True, allow_config_change=allow_config_change)
    else:
        if allow_config_change:
            raise GannormError("--allow-config-change only applies with --resume RUN_DIR")
        cfg = config_mod.load(config, list(overrides))
        if not config and cfg.train.iterations == config_mod.Config().train.iterations:
            click.echo(f"gannorm: note: no CONFIG, so the defaults train {cfg.train.iterations:,} iterations (the "
                       f"paper's length); for a short run give configs/quickstart.yaml or train.iterations=N",
                       err=True)
        root = Path(run_dir) if run_dir else new_run_dir(cfg)
        try:
            trainer = make_trainer(cfg, root, quiet=quiet)
        except BaseException:
            if not run_dir and not any(p.is_file() and p.name != LOCK_NAME for p in root.rglob("*")):
                shutil.rmtree(root)  # a run that never started leaves no numbered folder behind
            raise
    if not quiet and trainer.is_main:
        click.echo(f"run directory: {trainer.run.root}  (data: {trainer.data.description}; "
                   f"{len(trainer.split.train)} train / {len(trainer.split.final_test)} held out; "
                   f"device: {trainer.device})", err=True)
    res = trainer.train()
    if not trainer.is_main:  # under torchrun only rank 0 reports
        return
    best = f"{res.best_recon:.5f} at iteration {res.best_iteration}" if res.best_recon is not None else "n/a"
    for line in summary_lines(res):
        click.echo(line)
    click.echo(f"best running reconstruction error (MSE per pixel value, [0,1] scale, "
               f"{len(trainer.split.running_test)} held-out images, {cfg.eval.test_steps} steps): {best}")
    if trainer.iteration >= cfg.train.iterations:  # a finished run, not one stopped early
        from ..evaluation.first_look import classifier_is, save_result, summary_line

        result = classifier_is(trainer.sample_generator, trainer.data, seed=cfg.train.seed, device=trainer.device)
        try:
            save_result(result, trainer.run.eval)
        except OSError:  # the figure is printed below; a full disk must not fail a finished run
            pass
        click.echo(summary_line(result))
    if res.sample_grid:
        click.echo(f"samples: {res.sample_grid}")
    if not quiet:
        run = res.run_dir
        click.echo("next:\n"
                   f"  look at {res.sample_grid or run / 'samples'} (and the grids over training in {run / 'samples'})\n"
                   f"  tensorboard --logdir {run.parent}        # losses, running error, sample grids\n"
                   f"  gannorm eval {run} --recon              # the paper's final reconstruction test\n"
                   f"  gannorm train --resume {run} train.iterations={2 * res.iteration}   # train on\n"
                   f"  gannorm study configs/studies/dcgan_norms_fmnist.yaml   # compare normalizations over seeds",
                   err=True)


