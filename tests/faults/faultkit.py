"""Shared pieces of the fault-injection tests: tiny runs, the CLI in a real subprocess,
waiting for a file to appear, and the one-line-error check."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from gannorm.cli import cli

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=1", "sample_every=0", "test_interval=0",
        "running_holdout=8", "n_samples=4"]
TIMEOUT = 120  # seconds for any one subprocess; the tests themselves stay well below


def env(**extra):
    """One CPU thread per process: the tests start several at once on a small machine."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def gannorm(*args, preexec_fn=None, timeout=TIMEOUT):
    """``python -m gannorm ARGS`` as a user runs it: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "gannorm", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env(), preexec_fn=preexec_fn)
    return p.returncode, p.stdout, p.stderr


def spawn(*args, log: Path, **kw):
    """``python -m gannorm ARGS`` in the background, output to ``log``."""
    f = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "gannorm", *map(str, args)], stdout=f, stderr=subprocess.STDOUT,
                            env=env(), **kw)


def invoke(*args):
    """The CLI in this process (no start-up cost): (exit code, stdout, stderr)."""
    r = CliRunner().invoke(cli, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def wait_for(cond, proc=None, timeout=TIMEOUT, what="condition"):
    t0 = time.monotonic()
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended (rc {proc.returncode}) before {what}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill9(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def assert_one_line_error(code, err, *needles):
    """Exit 2 with a single 'gannorm: error:' line holding ``needles``, no traceback."""
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    # a progress bar drawn before the error may share its terminal line
    errors = re.findall(r"gannorm: error:[^\r\n]*", err)
    assert len(errors) == 1, err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def cell_pids(run_dir: Path):
    """PIDs of study cell processes working on ``run_dir`` (found by their command line)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"gannorm.study.cell" in cmd and str(run_dir).encode() in cmd and alive(int(p.name)):
                out.append(int(p.name))
    return out


def read_only_preexec():
    """For a child that must see read-only directories as read-only. Root ignores file
    modes, so a root test drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the child's
    capability bounding set (prctl PR_CAPBSET_DROP) before it executes."""
    if os.geteuid() != 0:
        return None

    def drop():
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP failed")
    return drop


def file_size_limit(nbytes: int):
    """preexec_fn for ``ulimit -f``: writes past ``nbytes`` in any one file fail with EFBIG
    (Python ignores SIGXFSZ), as on a full disk."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
