"""The ``gannorm`` command line (click), one module per sub-command.

User errors (``GannormError``) print one line and exit with status 2; anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import inspect
import json
import re
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path

import click

from .. import config as config_mod
from ..errors import GannormError

#: OSErrors that mean "this place cannot be written" rather than a bug
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EDQUOT}

CHOICES = {
    "data.name": "DATASETS", "model.name": "MODELS", "model.g_norm": "NORMS", "model.d_norm": "NORMS",
    "train.loss": "LOSSES", "train.tricks": "TRICKS", "optim.name": "OPTIMIZERS",
}


def _field_comments(cls):
    src = inspect.getsource(cls)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#\s*(.*)$", src, re.M)}


def config_help() -> str:
    """Every config key with its default, its meaning and, for names, the valid choices."""
    from ..registry_index import names

    lines = ["\b", "Config keys (set in the YAML or as key=value; bare names work when unique):"]
    cfg = config_mod.Config()
    for f in fields(cfg):
        section = getattr(cfg, f.name)
        comments = _field_comments(type(section))
        lines.append("\b")
        lines.append(f"  {f.name}:")
        for g in fields(section):
            path = f"{f.name}.{g.name}"
            default = getattr(section, g.name)
            text = f"    {path} = {default!r}"
            if g.name in comments:
                text += f"   # {comments[g.name]}"
            lines.append(text)
            if path in CHOICES:
                lines.append(f"        choices: {', '.join(names(CHOICES[path]))}")
    return "\n".join(lines)


#: what to lower when a command runs out of memory
LOWER_ON_OOM = {
    "train": "train.batch_size, model.base_features or data.image_size",
    "sample": "-n",
    "eval": "--batch-size, --n-gen or --chunk-size",
    "study": "the cells' train.batch_size, model.base_features or data.image_size, or --jobs",
    "features": "--batch-size or --image-size",
    "data": "--workers",
}


def _oom(command: str) -> str:
    return f"out of memory; lower {LOWER_ON_OOM.get(command, 'the batch or image sizes')}"


class _Group(click.Group):
    _last_params: frozenset = frozenset()  # the option names of the subcommand being run
    _last_command: str = ""

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            _Group._last_params = frozenset(p.name for p in cmd.params)
            _Group._last_command = cmd.name
        return name, cmd, rest

    def main(self, *args, **kwargs):
        kwargs.setdefault("standalone_mode", True)
        try:
            return super().main(*args, standalone_mode=False, **{k: v for k, v in kwargs.items() if k != "standalone_mode"})
        except GannormError as e:
            click.echo(f"gannorm: error: {e}", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo(f"gannorm: error: {_oom(self._last_command)}", err=True)
            sys.exit(2)
        except RuntimeError as e:  # torch's out-of-memory errors (CPU and GPU) are RuntimeErrors
            if not any(s in str(e) for s in ("out of memory", "can't allocate memory", "not enough memory")):
                raise
            click.echo(f"gannorm: error: {_oom(self._last_command)} ({str(e).splitlines()[0][:160]})", err=True)
            sys.exit(2)
        except OSError as e:
            if e.errno not in WRITE_ERRNOS:
                raise
            # a read-only run directory or a full disk: say what could not be written, and a
            # fix the command in hand has (only some commands take --out)
            where = "give --out a writable place" if "out" in self._last_params else \
                "copy the run directory somewhere writable and point the command there"
            fix = "free some space" if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else where
            click.echo(f"gannorm: error: could not write {e.filename or 'a file'}: {e.strerror}; {fix}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("gannorm: aborted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gannorm")
def cli():
    """gannorm: train GANs that stay stable, and measure it (normalizations, losses, reconstruction error).

    \b
    Quick start (bundled Fashion-MNIST subset, CPU, 3,000 iterations: about 3 CPU minutes):
      gannorm train configs/quickstart.yaml
    """


def _progress_flag(ctx, param, value):
    return "auto" if value is None else value


#: ``--progress/--no-progress``: bars with ETA on stderr; by default only when stderr is a terminal.
progress_option = click.option("--progress/--no-progress", default=None, callback=_progress_flag,
                               help="Progress bars with ETA on stderr (default: only when stderr is a terminal).")


class _TrainCommand(click.Command):
    def format_epilog(self, ctx, formatter):
        formatter.write_paragraph()
        for line in config_help().splitlines():
            formatter.write_text(line) if line != "\b" else formatter.write("\n")



class Count(click.ParamType):
    """An integer option in [lo, hi], also written 1e6; anything else is one ``gannorm: error``
    line naming the option and its range (click's own error prints the usage first)."""
    name = "integer"

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def convert(self, value, param, ctx):
        text = str(value).strip().replace("_", "")
        n = None
        if re.fullmatch(r"[+-]?\d+", text):
            n = int(text)
        else:
            try:
                f = float(text)
                n = int(f) if f == f and abs(f) != float("inf") and f == int(f) else None
            except ValueError:
                pass
        opt = "/".join(param.opts) if param is not None else "value"
        if n is None or not self.lo <= n <= self.hi:
            raise GannormError(f"{opt} must be an integer from {self.lo:,} to {self.hi:,}, got {value}")
        return n


def checkpoint_option(f):
    # one rule for every command (gannorm.evaluation.DEFAULT_CHECKPOINT): the checkpoint the
    # paper's final test scores, best.pt, when the run has one; else the newest
    return click.option("--checkpoint", default="best", show_default=True,
                        help="best (falls back to latest when the run has no best.pt), latest, or a "
                             "checkpoint file.")(f)


def device_option(f):
    return click.option("--device", default="auto", show_default=True,
                        help="auto (the GPU when one is visible), cpu, cuda or cuda:N.")(f)


def echo_err(line: str) -> None:
    """A progress or provenance line: on stderr, so stdout keeps only the results."""
    click.echo(line, err=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    # users get "gannorm: warning: ..." like errors, not Python's file/line/source dump
    print(f"gannorm: warning: {message}", file=file or sys.stderr)


def main():
    import warnings

    warnings.showwarning = _one_line_warning
    cli(prog_name="gannorm")



# sub-commands register themselves on ``cli`` when imported
from . import data, eval, export, features, list_cmd, sample, study, train, watch  # noqa: E402,F401
