"""gannorm.utils.progress: bars only where asked, callbacks see every unit of work."""
import io
import sys

import pytest
import torch

from gannorm.metrics.features import extract_images
from gannorm.metrics.reconstruction import reconstruction_error
from gannorm.utils.progress import Progress, postfix_reporter


class _TinyG(torch.nn.Module):
    z_dim = 3

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 2, 2)


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_reconstruction_reports_every_z_step_of_every_chunk_and_restart():
    seen = []
    imgs = torch.rand(10, 1, 2, 2)
    reconstruction_error(_TinyG(), imgs, steps=4, chunk_size=3, restarts=1,
                         progress=lambda done, total, desc: seen.append((done, total, desc)))
    # 2 starts x 4 chunks (3+3+3+1) x 4 steps
    assert [d for d, _, _ in seen] == list(range(1, 33))
    assert {t for _, t, _ in seen} == {32} and {d for _, _, d in seen} == {"reconstruction"}


def test_feature_extraction_counts_images():
    seen = []

    class Ext(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x.flatten(1).float(), None

    extract_images(Ext(), torch.zeros(7, 1, 2, 2, dtype=torch.uint8), batch_size=3,
                   progress=lambda d, t, desc: seen.append((d, t)))
    assert seen == [(3, 7), (6, 7), (7, 7)]


@pytest.mark.parametrize("stream,arg,shown", [
    (io.StringIO, "auto", False),   # a pipe or log file: no bar
    (_TTY, "auto", True),           # a terminal: bar
    (io.StringIO, True, True),      # forced (--progress)
    (_TTY, False, False),           # --no-progress
])
def test_bar_only_on_a_terminal_or_when_forced(monkeypatch, stream, arg, shown):
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(arg, 5, "features of real images", unit="img") as p:
        for _ in range(5):
            p.update()
    out = err.getvalue()
    assert ("features of real images" in out and "/5 [" in out) == shown
    assert (out == "") == (not shown)


def test_postfix_reporter_shows_nested_work_in_the_outer_bar(monkeypatch):
    from tqdm import tqdm

    err = io.StringIO()
    bar = tqdm(total=10, file=err, mininterval=0)
    report = postfix_reporter(bar, "running test, z-step")
    report(3, 50, "reconstruction")
    assert bar.postfix == "running test, z-step 3/50"
    bar.close()
    assert postfix_reporter(tqdm(total=1, disable=True), "x") is None
    assert postfix_reporter(None, "x") is None


def test_bad_progress_argument_is_refused():
    with pytest.raises(ValueError, match="progress must be"):
        Progress("yes", 1, "x")
