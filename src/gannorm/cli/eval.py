from __future__ import annotations


import click

from ..errors import GannormError

from . import cli, progress_option

@cli.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--recon", is_flag=True, help="The paper's reconstruction error on the held-out final test set.")
@click.option("--steps", type=int, default=None, help="z-optimisation steps (default: the run's eval.final_steps).")
@click.option("--checkpoint", default="best", show_default=True, help="best, latest, or a checkpoint file.")
@click.option("--n-images", type=int, default=None, help="Use only the first N held-out images.")
@click.option("--chunk-size", type=int, default=None, help="Images optimised at once (memory only).")
@click.option("--plot", is_flag=True, help="Write the per-step curve and a grid of (image, reconstruction) pairs.")
@click.option("--restarts", type=int, default=0, show_default=True,
              help="Extra random starts per image, best kept (not the paper's protocol; for multimodal G).")
@click.option("--fid", is_flag=True, help="Frechet distance (Heusel et al. 2017) of generated vs real features.")
@click.option("--kid", is_flag=True, help="Kernel distance, unbiased MMD^2 (Binkowski et al. 2018).")
@click.option("--is", "is_", is_flag=True, help="Inception score of generated images (Salimans et al. 2016).")
@click.option("--pr", is_flag=True, help="Improved precision and recall, k=3 (Kynkaanniemi et al. 2019).")
@click.option("--extractor", default="efficientnet_lite0", show_default=True,
              help="Features for --fid/--kid/--is/--pr: efficientnet_lite0[:SIZE] (offline), inception (the FID "
                   "network, weights downloaded once) or inception:PATH (a local pt_inception-2015-12-05 file), "
                   "domain:PATH (gannorm features train).")
@click.option("--n-gen", type=int, default=10_000, show_default=True, help="Generated images (FID: 10k+ by convention).")
@click.option("--n-real", type=int, default=None, help="Real images (default: all of --real-split).")
@click.option("--real-split", type=click.Choice(["train", "test", "all"]), default="train", show_default=True,
              help="Real images: the training split, the held-out final test split, or all.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per feature-extraction batch.")
@click.option("--kid-subset-size", type=int, default=1000, show_default=True, help="KID subset size (100 subsets).")
@click.option("--no-cache", is_flag=True, help="Recompute the real images' reference statistics.")
@progress_option
def eval_cmd(run_dir, recon, steps, checkpoint, n_images, chunk_size, plot, restarts, fid, kid, is_, pr, extractor, n_gen,
             n_real, real_split, batch_size, kid_subset_size, no_cache, progress):
    """Evaluate a trained run; results go to RUN_DIR/eval/ and are printed."""
    from ..metrics.recon_run import final_recon_test

    fidelity = [m for m, on in (("fid", fid), ("kid", kid), ("is", is_), ("pr", pr)) if on]
    if fidelity:
        from ..metrics.evaluate import evaluate_run_lines

        for line in evaluate_run_lines(run_dir, metrics=fidelity, checkpoint=checkpoint, extractor=extractor,
                                       n_gen=n_gen, n_real=n_real, real_split=real_split, batch_size=batch_size,
                                       kid_subset_size=kid_subset_size, use_cache=not no_cache,
                                       progress=progress):
            click.echo(line)
    if not recon:
        if fidelity:
            return
        raise GannormError("nothing to evaluate: pass --recon and/or --fid, --kid, --is, --pr")
    ft = final_recon_test(run_dir, steps=steps, checkpoint=checkpoint, n_images=n_images,
                          chunk_size=chunk_size, restarts=restarts, plot=plot, progress=progress)
    click.echo(ft.summary)
    for p in ft.figures:
        click.echo(f"wrote {p}")
