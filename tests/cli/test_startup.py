"""`gannorm --help`, `gannorm list` and `gannorm train --help` answer without importing torch."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gannorm

SRC = str(Path(gannorm.__file__).resolve().parents[1])

SCRIPT = textwrap.dedent("""
    import runpy, sys
    outputs = []
    for argv in (["--help"], ["list"], ["train", "--help"]):
        sys.argv = ["gannorm", *argv]
        try:
            runpy.run_module("gannorm", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            assert e.code in (0, None), (argv, e.code)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "numpy", "tensorboard"))
    print("HEAVY", heavy, file=sys.stderr)
""")


def test_help_list_and_train_help_import_no_torch():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stderr, r.stderr[-2000:]
    # the three outputs really came: top-level commands, registry names, config keys with choices
    assert "Commands:" in r.stdout and "norms:" in r.stdout and "spectral" in r.stdout
    assert "model.d_norm = " in r.stdout and "choices:" in r.stdout
