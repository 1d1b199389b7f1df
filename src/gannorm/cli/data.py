"""``gannorm data prepare``: decode a dataset once into the prepared cache.

Takes the same CONFIG and key=value OVERRIDES as ``gannorm train`` and builds exactly the
cache that training will open (same source, size, crop and channels), so training never
decodes an image. Interrupting is safe; rerunning continues where it stopped.
"""
from __future__ import annotations

import inspect
import os
import time
from pathlib import Path

import click

from .. import config as config_mod
from ..errors import GannormError
from . import Count, cli


@cli.group("data")
def data_group():
    """Datasets: decode once into the prepared cache (uint8 memory map)."""


@data_group.command("prepare")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--skip-bad", is_flag=True, help="Leave unreadable images out (counted and named at the end) instead of stopping.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where caches live (default $GANNORM_CACHE or ~/.cache/gannorm); training must see the same.")
@click.option("--workers", type=Count(1, 4096), default=None, help="Decoding threads (default min(4, CPUs)).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def prepare(config, overrides, skip_bad, cache_dir, workers, quiet):
    """Decode the dataset of CONFIG (+ OVERRIDES, e.g. data.name=celeba data.root=... data.image_size=64)
    into the prepared cache and print what it holds.

    \b
    Example:
      gannorm data prepare configs/dcgan_celeba_weight.yaml data.root=/data/celeba
    """
    from .. import plugins  # noqa: F401
    from ..data import load_data
    from ..registry import DATASETS

    if config and "=" in config and not Path(config).exists():
        overrides, config = (config,) + tuple(overrides), None
    if workers is not None:
        if workers < 1:
            raise GannormError(f"--workers must be >= 1, got {workers}")
        os.environ["GANNORM_DECODE_WORKERS"] = str(workers)
    if cache_dir:
        os.environ["GANNORM_CACHE"] = str(Path(cache_dir).expanduser().resolve())
    cfg = config_mod.load(config, list(overrides))
    if skip_bad:
        if "skip_bad" not in inspect.signature(DATASETS.get(cfg.data.name)).parameters:
            raise GannormError(f"dataset {cfg.data.name!r} stores raw pixels, nothing to skip; drop --skip-bad")
        cfg.data.args["skip_bad"] = True
    t0 = time.perf_counter()
    data = load_data(cfg.data, quiet=quiet)
    n, c, h, w = data.images.shape
    labels = (f"{len(data.class_names) or int(data.labels.max()) + 1} classes"
              if data.labels is not None else "none")
    click.echo(f"{data.description}")
    click.echo(f"{n} images, {c}x{h}x{w} uint8 ({data.images.nbytes / 1e6:.1f} MB), labels: {labels}, "
               f"{time.perf_counter() - t0:.1f} s")
    click.echo(f"cache: {data.cache}" if data.cache else
               "cache: none needed (this source stores raw pixels and loads without decoding)")
    if data.skipped:
        shown = ", ".join(data.skipped[:5]) + (" ..." if len(data.skipped) > 5 else "")
        click.echo(f"skipped {len(data.skipped)} unreadable image(s): {shown}")
