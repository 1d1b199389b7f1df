"""``gannorm eval --recon`` shows a bar with ETA on a terminal or with --progress, and nothing
but its result line (and the line naming the data it reads) in a pipe or log file."""
import pytest
from click.testing import CliRunner

from gannorm.cli import cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, train_tiny_run):
    rd = tmp_path_factory.mktemp("progress") / "r"
    train_tiny_run(rd, "train.iterations=4", "eval.test_interval=4", "eval.test_steps=2")
    return rd


def _eval(run_dir, *extra):
    r = CliRunner().invoke(cli, ["eval", str(run_dir), "--recon", "--steps", "3", "--n-images", "8", *extra])
    assert r.exit_code == 0, r.output
    return r


def test_no_bar_noise_when_stderr_is_not_a_terminal(run_dir):
    r = _eval(run_dir)  # CliRunner's stderr is not a terminal
    # only the one line that names the data being read; no bar
    assert r.stderr.splitlines() == [l for l in r.stderr.splitlines() if l.startswith("reading real images: ")]
    assert "\r" not in r.stderr and "/3 [" not in r.stderr
    assert "\r" not in r.stdout and r.stdout.startswith("reconstruction error:")


def test_progress_flag_forces_the_bar_with_eta(run_dir):
    r = _eval(run_dir, "--progress")
    assert "reconstruction:" in r.stderr and "step" in r.stderr and "/3 [" in r.stderr
    assert "reconstruction error:" in r.stdout and "\r" not in r.stdout
