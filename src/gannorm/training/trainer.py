"""The training loop: D step(s), G step, EMA, then logging, samples, tests, checkpoints."""
from __future__ import annotations

import math
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

from .. import config as config_mod
from ..config import Config
from ..data import BatchLoader, load_data, reference_images, split_for
from ..errors import DivergedError, GannormError
from ..registry import DATASETS
from ..hooks import StepContext, call_g, warn
from ..metrics.reconstruction import reconstruction_error, recon_labels
from ..models import build_models
from ..nn.prepare import prepare_norms
from ..nn.spectral import advance_power_iterations
from ..tricks import setup_models
from ..utils.io import atomic_save_image
from ..utils.progress import postfix_reporter
from . import distributed, fastpath
from .amp import MixedPrecision
from .memory import check_training_fits
from . import watch
from .checkpoint import (capture_rng, check_gannorm_checkpoint, load_checkpoint, nonfinite_tensors, restore_rng,
                         save_checkpoint)
from .ema import EMA
from .generator_spec import generator_spec
from .logging import MetricsLog
from .optim import apply_schedules, build_optimizers
from .resume import check_resume_config, record_changes
from .rundir import RunDir
from ..utils.images import unit_range


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GannormError(f"train.device={name} but no CUDA GPU is visible; use device=cpu or auto")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GannormError(f"device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise GannormError(f"device {name}: only {torch.cuda.device_count()} GPU(s) are visible "
                           f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return dev


#: "no non-finite loss yet" for Trainer._bad_at: larger than any iteration, so min() finds the first
NEVER = 2**62


def _load_optimizer(opt: torch.optim.Optimizer, state: Dict) -> None:
    """Restore the moments and step counts but keep the config's hyperparameters (learning
    rate, betas, implementation): torch would put back the saved ones, silently undoing a
    change made on resume."""
    fresh = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    opt.load_state_dict(state)
    for group, hyper in zip(opt.param_groups, fresh):
        group.update(hyper)


@dataclass
class TrainResult:
    run_dir: Path
    iteration: int
    sample_grid: Optional[Path]
    best_recon: Optional[float]
    best_iteration: Optional[int]
    #: "done", or "stopped: <reason> at <iteration>" when the guard ended the run
    status: str = "done"
    #: the guard's rollbacks (iteration, to, signal, onset, lr_scale), oldest first
    rollbacks: Optional[list] = None


class Trainer:
    """Builds everything from a ``Config`` and trains into a run directory."""

    def __init__(self, cfg: Config, run_dir: str | Path, *, quiet: bool = False, resume: bool = False,
                 allow_config_change: bool = False,
                 periodic: Sequence[Callable[["Trainer", int, bool], Dict[str, float]]] = ()):
        """``resume``: continue from the run's latest checkpoint. A setting outside
        ``resume.MAY_CHANGE_ON_RESUME`` that differs from the checkpoint's is refused unless
        ``allow_config_change`` (then recorded in ``RUN/config_changes.yaml``).

        ``periodic``: callables ``(trainer, iteration, last) -> {name: value}`` run at every
        sync point after the running test; their values are logged. The sample-quality
        metrics of ``eval.metrics`` arrive this way (``gannorm.evaluation.make_trainer``), so
        the training loop never imports the evaluation built on top of it."""
        config_mod.validate(cfg)  # a Config built in code is refused as one read from YAML would be
        self.cfg, self.quiet = cfg, quiet
        self.periodic = list(periodic)
        if cfg.eval.metrics and not self.periodic:
            raise GannormError(f"eval.metrics={list(cfg.eval.metrics)} needs the periodic evaluation: build the "
                               f"trainer with gannorm.evaluation.make_trainer(cfg, run_dir), or set eval.metrics=[]")
        self.run = RunDir(Path(run_dir))
        if not resume and self.run.latest.exists():
            raise GannormError(f"{self.run.root} already holds a run; use --resume {self.run.root} "
                               f"to continue it or choose another --run-dir")
        created = not self.run.root.exists()
        # one writer per run directory (torchrun: rank 0 writes, the others only train)
        self._lock = self.run.open(lock=distributed.env_rank() == 0)
        self._saved_at: Optional[int] = None  # iteration of the latest.pt known to be intact
        try:
            self._setup(cfg, quiet, resume, allow_config_change)
        except BaseException:
            self.close()
            if created:  # a failed start leaves no empty run directory behind
                self.run.remove()
            raise

    def _setup(self, cfg: Config, quiet: bool, resume: bool, allow_config_change: bool):
        state = changes = None
        if resume:
            path = self.run.checkpoint("latest")
            state = check_gannorm_checkpoint(load_checkpoint(path), path)
            changes = check_resume_config(state.get("config"), cfg.to_dict(), int(state["iteration"]),
                                          allow_config_change, path)
        self.run.make()
        self.device = resolve_device(cfg.train.device)
        # torchrun sets WORLD_SIZE/RANK: join the group (gloo on CPU, nccl on GPU); alone otherwise.
        self.dist = distributed.init_from_env(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        distributed.check_batch(cfg.train.batch_size, self.dist)
        self._seed(cfg.train.seed)

        self.data = load_data(cfg.data, quiet=quiet)
        self.split = split_for(cfg.data, len(self.data))
        if cfg.data.xflip and DATASETS.attr(cfg.data.name, "orientation_labels", False):
            warn(f"data.xflip=true on {cfg.data.name}: its classes depend on orientation (a mirrored digit "
                 f"is another symbol or none), so mirrored images teach G images that are not in the data")
        # the kernel's OOM killer leaves nothing to catch: refuse what cannot fit before building it
        check_training_fits(cfg, self.data.size, self.data.channels, self.device)
        self.G, self.D = build_models(cfg.model, self.data.size, self.data.channels)
        self.G.to(self.device)
        self.D.to(self.device)
        # VBN's reference batches and strict SN's input sizes are fixed once, before any copy of G.
        self.out_range = getattr(self.G, "output_range", (0.0, 1.0))
        prepare_norms(self.G, self.D, reference_images(self.data.images, self.split.train, self.out_range),
                      seed=cfg.train.seed)
        # The loss and the tricks may wrap G and D (conditional GAN, BEGAN's auto-encoder, ...)
        # before the optimizers see their parameters.
        self.G, self.D, self.loss, self.hooks = setup_models(cfg, self.G, self.D, self.data)
        self.generator_spec = generator_spec(cfg, self.data, self.G)  # in every checkpoint: G without the data
        if cfg.train.sync_bn:
            self.G = fastpath.sync_batchnorm(self.G, self.device, self.dist.world)
            self.D = fastpath.sync_batchnorm(self.D, self.device, self.dist.world)
        self.G.to(self.device)
        self.D.to(self.device)
        if cfg.train.channels_last:
            fastpath.to_channels_last(self.G)
            fastpath.to_channels_last(self.D)
        self.amp = MixedPrecision(cfg.train.amp, self.device)
        self._warn_fp16_penalties()
        self.opt_g, self.opt_d = build_optimizers(self.G, self.D, cfg.optim)
        self.ema = EMA(self.G, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
        self.loader = BatchLoader(self.data.images, self.split.train, cfg.train.batch_size,
                                  seed=cfg.train.seed, device=self.device, out_range=self.out_range,
                                  labels=self.data.labels if self.hooks.needs_labels else None,
                                  shard=(self.dist.rank, self.dist.world), xflip=cfg.data.xflip)
        if self.dist.enabled:
            distributed.broadcast_module(self.G)
            distributed.broadcast_module(self.D)
        # The step runs these; everything else (EMA, samples, tests, checkpoints) the plain modules.
        self.G_fn = fastpath.compiled(self.G, cfg.train.compile, cfg.train.compile_backend)
        self.D_fn = fastpath.compiled(self.D, cfg.train.compile, cfg.train.compile_backend)
        # First iteration whose loss was not finite, per loss (NEVER: none yet; each step takes
        # the running minimum), kept on the device so the step never waits for it; read where
        # the loop syncs anyway (logging, tests, saving).
        self._bad_at = torch.full((2,), NEVER, dtype=torch.long, device=self.device)  # d_loss, g_loss
        # Fixed z for the sample grids, from its own generator so it never shifts training RNG.
        self.fixed_z = torch.randn(cfg.train.n_samples, self.G.z_dim,
                                   generator=torch.Generator().manual_seed(cfg.train.seed + 12345))
        self.iteration = 0
        self._bar = None  # the training bar while train() runs
        self.best = {"recon": math.inf, "iteration": -1}
        watch.setup(self)  # diagnostics, the health monitor and the guard (gannorm.training.watch)
        if state is not None:
            self._load(state, path)
            watch.resumed(self)
        self.is_main = self.dist.is_main  # only rank 0 writes files
        if self.is_main:
            with self._writing(self.run.config):
                config_mod.save(cfg, self.run.config)
                record_changes(self.run.config_changes, changes or [])
            with self._writing(self.run.metrics):
                self.log = MetricsLog(self.run.metrics, self.iteration if resume else None,
                                      self.run.tb if "tensorboard" in cfg.train.log_to else None,
                                      config_text=self.run.config.read_text(),
                                      mlflow=watch.mlflow_sink(self, resume))

    def close(self) -> None:
        """Release the run directory (also when the process ends, however it ends)."""
        if getattr(self, "_lock", None) is not None:
            self._lock.release()
            self._lock = None

    @contextmanager
    def _writing(self, path: Path):
        """A failed write (full disk, read-only directory) is a one-line error that says what
        could not be written and what is still safe."""
        try:
            yield
        except OSError as e:
            raise GannormError(f"could not write {path}: {e.strerror or e}; {self._kept()}") from None

    def _kept(self) -> str:
        if self._saved_at is None:
            return "no checkpoint was written yet"
        return f"the last good checkpoint ({self.run.latest}, iteration {self._saved_at}) is intact"

    # ------------------------------------------------------------------ state
    def _warn_fp16_penalties(self):
        if self.amp.dtype is not torch.float16:
            return
        used = config_mod.inner_gradient_terms(self.cfg)
        if used:
            warn(f"train.amp=fp16 with {', '.join(used)}: their inner gradient is taken unscaled and can "
                 f"underflow in float16; train.amp=bf16 has float32's range")

    @staticmethod
    def _seed(seed: int):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def state_dict(self) -> Dict:
        return {
            "format": "gannorm-checkpoint-1",
            "iteration": self.iteration,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.ema.model.state_dict() if self.ema else None,
            "opt_G": self.opt_g.state_dict(), "opt_D": self.opt_d.state_dict(),
            "rng": capture_rng(), "loader": self.loader.state_dict(),
            "best": dict(self.best), "fixed_z": self.fixed_z, "hooks": self.hooks.state_dict(),
            "amp": self.amp.state_dict(),
            "config": self.cfg.to_dict(),
            "generator_spec": self.generator_spec,
            "health": watch.state_dict(self),
        }

    def _load(self, s: Dict, path: Path):
        try:
            self.G.load_state_dict(s["G"])
            self.D.load_state_dict(s["D"])
            if self.ema is not None:
                if s.get("G_ema") is None:
                    raise GannormError(f"{path} has no EMA generator but train.ema_decay > 0")
                self.ema.model.load_state_dict(s["G_ema"])
        except (RuntimeError, KeyError) as e:
            raise GannormError(f"{path} does not fit the models of this config ({str(e).splitlines()[0][:200]}); "
                               f"resume with the config the run was trained with") from None
        if (s.get("config") or {}).get("optim", {}).get("name", self.cfg.optim.name) == self.cfg.optim.name:
            _load_optimizer(self.opt_g, s["opt_G"])
            _load_optimizer(self.opt_d, s["opt_D"])  # (another optimizer starts from fresh moments)
        self.loader.load_state_dict({k: (v.cpu() if torch.is_tensor(v) else v) for k, v in s["loader"].items()})
        rng = s["rng"]
        rng["torch"] = rng["torch"].cpu()
        rng["cuda"] = [t.cpu() for t in rng.get("cuda", [])]
        rng["numpy"]["key"] = rng["numpy"]["key"].cpu()
        restore_rng(rng)
        self.fixed_z = s["fixed_z"].cpu()
        self.best = dict(s["best"])
        self.hooks.load_state_dict(s.get("hooks", {}))
        self.amp.load_state_dict(s.get("amp", {}))
        self.iteration = int(s["iteration"])
        self._saved_at = self.iteration
        watch.load_state_dict(self, s.get("health", {}))

    def save(self, path: Path):
        """Write a checkpoint atomically, never one holding a NaN or an infinity: an update
        can break the weights while the loss that produced it was finite."""
        state = self.state_dict()
        bad = nonfinite_tensors({k: state[k] for k in ("G", "D", "G_ema")})
        if bad:
            raise GannormError(f"the weights stopped being finite by iteration {self.iteration} ({len(bad)} "
                               f"tensor(s), first {bad[0]}); {path.name} was not saved and {self._kept()}. "
                               f"Try a lower learning rate or another normalization")
        with self._writing(path):
            save_checkpoint(state, path)
        if path == self.run.latest:
            self._saved_at = self.iteration

    # ------------------------------------------------------------------ one iteration
    def _z(self, n: int) -> torch.Tensor:
        if not self.dist.enabled:
            return torch.randn(n, self.G.z_dim, device=self.device)
        # every rank draws the global batch of z from the same RNG state and keeps its slice
        z = torch.randn(n * self.dist.world, self.G.z_dim, device=self.device)
        return z[self.dist.rank * n:(self.dist.rank + 1) * n]

    def step(self) -> Dict[str, torch.Tensor]:
        """One iteration; the loss and every trick act through ``self.hooks`` (gannorm.hooks)."""
        cfg, H, amp = self.cfg.train, self.hooks, self.amp
        apply_schedules(self.opt_g, self.opt_d, self.cfg.optim, self.iteration, cfg.iterations, self.guard.lr_scale)
        self.D.requires_grad_(True)
        for _ in range(cfg.d_steps):
            real, y = self.loader.next()
            if cfg.channels_last:
                real = fastpath.batch_to_channels_last(real)
            with amp.autocast():
                z = self._z(real.shape[0])
                with torch.no_grad():
                    fake = call_g(self.G_fn, z, y)
                ctx = self._context("d", real, fake, y, z)
                ctx.fake = H.d_input(H.d_fake(ctx.fake, ctx), ctx)
                ctx.real = H.d_input(ctx.real, ctx)
                # losses in float32 whatever the step's precision
                ctx.d_real, ctx.d_fake = ctx.d(ctx.real).float(), ctx.d(ctx.fake).float()
                d_loss = self.loss.d_loss(ctx.d_real, ctx.d_fake) + H.d_penalty(ctx)
            self._update(d_loss, self.D, self.opt_d, "d")
            advance_power_iterations(self.D)  # SN/BSSN with power_update=step: once per D step
            H.after_d_step(ctx)
        d_ctx = ctx
        # G step: D's weights need no gradient, which saves their backward.
        self.D.requires_grad_(False)
        with amp.autocast():
            z = self._z(real.shape[0])
            ctx = self._context("g", d_ctx.real, call_g(self.G_fn, z, y), y, z)
            ctx.fake = H.d_input(ctx.fake, ctx)
            ctx.d_fake = ctx.d(ctx.fake).float()
            if H.g_needs_real:
                ctx.d_real = ctx.d(ctx.real).float()
            g_loss = self.loss.g_loss(ctx.d_fake, ctx.d_real) + H.g_penalty(ctx)
        self._update(g_loss, self.G, self.opt_g, "g")
        advance_power_iterations(self.G)
        H.after_g_step(ctx)
        if self.ema is not None:
            self.ema.update(self.G)
        out = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
               "d_real": self.loss.summary(d_ctx.d_real), "d_fake": self.loss.summary(d_ctx.d_fake)}
        # No host sync here: remember the first non-finite iteration on the device.
        finite = torch.isfinite(torch.stack([out["d_loss"].float(), out["g_loss"].float()]))
        self._bad_at = torch.minimum(self._bad_at, torch.where(finite, NEVER, self.iteration + 1))
        return {**out, **d_ctx.logs, **ctx.logs}

    def _update(self, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer, which: str):
        """Backward (scaled under fp16), average gradients across ranks, step."""
        opt.zero_grad(set_to_none=True)
        self.amp.backward(loss, which)
        if self.dist.enabled:
            distributed.average_gradients(net, self.dist.world)
        self.amp.step(opt, which)

    def check_finite(self, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """At a sync point: raise if any loss since the last check was not finite.

        With several processes the losses are averaged and the first bad iteration is the
        minimum over ranks, so every rank sees the same numbers and all stop together.
        """
        bad = self._bad_at
        if self.dist.enabled:
            keys = ["d_loss", "g_loss", "d_real", "d_fake"]
            avg = distributed.average_scalars(torch.stack([out[k].float() for k in keys]))
            out = {**out, **dict(zip(keys, avg))}
            bad = distributed.min_scalar(bad)
        first = bad.tolist()
        if min(first) < NEVER:
            it, which = min(zip(first, ("d_loss", "g_loss")))
            raise DivergedError(f"{which} stopped being finite at iteration {it} (now {float(out[which])}); "
                                f"{self._kept()}. Try a lower learning rate or another normalization")
        return out

    def _context(self, phase: str, real, fake, y, z=None) -> StepContext:
        return StepContext(self.G, self.D, real, fake, y, iteration=self.iteration,
                           iterations=self.cfg.train.iterations, phase=phase,
                           d_fn=None if self.D_fn is self.D else self.D_fn, z=z, generated=fake)

    # ------------------------------------------------------------------ periodic work
    @property
    def sample_generator(self) -> torch.nn.Module:
        return self.ema.model if self.ema is not None else self.G

    @torch.no_grad()
    def sample_grid(self, path: Path) -> Path:
        g = self.sample_generator
        was = g.training
        g.eval()  # as the authors' visualize(): BN uses running statistics
        x = g(self.fixed_z.to(self.device))
        g.train(was)
        with self._writing(path):
            atomic_save_image(unit_range(x, self.out_range).cpu(), path, nrow=int(math.sqrt(len(x))) or 1)
        return path

    def running_test(self) -> float:
        idx = self.split.running_test
        imgs = torch.from_numpy(np.ascontiguousarray(self.data.images[idx]))
        res = reconstruction_error(self.G, imgs, steps=self.cfg.eval.test_steps, lr=self.cfg.eval.test_lr,
                                   device=self.device, labels=recon_labels(self.G, self.data.labels, idx),
                                   # the training bar's postfix counts the test's z-steps, so it never sits frozen
                                   progress=postfix_reporter(self._bar, "running test, z-step"))
        return res.mean

    # ------------------------------------------------------------------ the loop
    def _is_sync_point(self, it: int, last: bool) -> bool:
        """Iterations where the loop reads losses or writes anything (the same on every rank)."""
        cfg, ev = self.cfg.train, self.cfg.eval
        return last or any(n and it % n == 0 for n in (
            cfg.log_every, cfg.sample_every, cfg.checkpoint_every, ev.test_interval, ev.metrics_interval,
            cfg.diagnostics_every))

    def train(self, until: Optional[int] = None) -> TrainResult:
        """Train to ``cfg.train.iterations``, or pause at iteration ``until`` (a checkpoint is
        saved there, so a later ``Trainer(..., resume=True).train()`` continues exactly)."""
        from tqdm import tqdm

        cfg, ev = self.cfg.train, self.cfg.eval
        last_grid = None
        main = self.is_main
        if main and self.iteration == 0 and cfg.sample_every:
            last_grid = self.sample_grid(self.run.samples / "iter_0000000.png")
            self.log.image("samples", last_grid, 0)
        if main:
            watch.started(self)
        # off a terminal (a log file, nohup) the bar is redrawn once a minute, not ten times a second
        bar = self._bar = tqdm(total=cfg.iterations, initial=self.iteration, disable=self.quiet or not main,
                               unit="it", dynamic_ncols=True, desc="train",
                               mininterval=0.1 if sys.stderr.isatty() else 60.0)
        t0 = time.perf_counter()
        start_it = self.iteration
        stop = min(until, cfg.iterations) if until is not None else cfg.iterations
        try:
            while self.iteration < stop:
                try:
                    out = self.step()
                except Exception as e:
                    err = fastpath.compile_error(e, cfg.compile)
                    if err is None:
                        raise
                    raise err from None
                it = self.iteration + 1
                self.iteration = it
                last = it == cfg.iterations
                pause = it == stop and not last
                if not (pause or self._is_sync_point(it, last)):
                    bar.update(1)
                    continue  # nothing to log, test or save: no reason to wait for the device
                try:
                    out = self.check_finite(out)
                except DivergedError as e:
                    if not (main and watch.diverged(self, e)):
                        raise
                    bar.n = self.iteration  # rolled back: continue from the healthy checkpoint
                    bar.refresh()
                    continue
                logs = {}
                if it % cfg.log_every == 0 or last:
                    logs.update({k: float(v) for k, v in out.items()})
                    logs["it_per_s"] = (it - start_it) / max(time.perf_counter() - t0, 1e-9)
                if not main:  # other ranks only train; rank 0 tests, logs, samples and saves
                    continue
                if ev.test_interval and (it % ev.test_interval == 0 or last):
                    r = self.running_test()
                    logs["recon_running"] = r
                    if r < self.best["recon"]:
                        self.best = {"recon": r, "iteration": it}
                        self.save(self.run.best)
                for fn in self.periodic:  # e.g. eval.metrics (FID/KID/IS/PR) on their interval
                    logs.update(fn(self, it, last))
                events = watch.diagnose(self, it, last, logs)  # adds the diagnostics to logs
                if logs:
                    with self._writing(self.run.metrics):
                        self.log.log(it, logs)
                    bar.set_postfix({**{k: f"{logs[k]:.3g}" for k in ("d_loss", "g_loss", "recon_running") if k in logs},
                                     **watch.postfix(self, logs)}, refresh=False)
                if events and watch.react(self, it, events):  # the guard rolled the run back or stopped it
                    if self.stopped:
                        break
                    bar.n = self.iteration
                    bar.refresh()
                    continue
                if cfg.sample_every and (it % cfg.sample_every == 0 or last):
                    last_grid = self.sample_grid(self.run.samples / f"iter_{it:07d}.png")
                    self.log.image("samples", last_grid, it)
                if (cfg.checkpoint_every and it % cfg.checkpoint_every == 0) or last or pause:
                    self.save(self.run.latest)
                    watch.saved(self, it)
                bar.update(1)
            if main and self.iteration >= cfg.iterations:  # the settings beside the final figures (TensorBoard HPARAMS)
                best = {"recon_best": self.best["recon"], "recon_best_iteration": self.best["iteration"]}
                self.log.hparams(self.cfg.to_dict(), {**self.log.last, **(best if self.best["iteration"] >= 0 else {})})
            if main:
                watch.finished(self)  # MLflow: the checkpoints as artifacts
        except BaseException:
            self.close()  # a caller that catches the error may resume in this same process
            raise
        finally:
            bar.close()
            if main:
                try:
                    self.log.close()
                except OSError:  # the error that stopped the loop says what could not be written
                    pass
        finished = self.iteration >= cfg.iterations
        final = self.sample_grid(self.run.samples / "final.png") if main and cfg.n_samples and finished else last_grid
        self.close()
        distributed.shutdown()
        best = self.best["recon"] if math.isfinite(self.best["recon"]) else None
        return TrainResult(self.run.root, self.iteration, final, best,
                           self.best["iteration"] if best is not None else None,
                           status=f"stopped: {self.stopped} at {self.iteration}" if self.stopped else "done",
                           rollbacks=list(self.guard.rollbacks))
