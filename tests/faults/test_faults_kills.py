"""Kill -9 at the moments that used to lose data: while metrics.jsonl is rewritten on
resume (the old history must survive whole) and while a checkpoint is saved (its
temporary file must not pile up: the next start removes it)."""
import json
import subprocess
import sys

from faultkit import TINY, env, invoke, kill9, wait_for

from gannorm import config
from gannorm.training import Trainer


def _run(tmp_path, iterations=2):
    run = tmp_path / "run"
    Trainer(config.load(None, TINY + [f"iterations={iterations}", "checkpoint_every=1"]), run, quiet=True).train()
    return run


def test_kill_during_metrics_rewrite_keeps_the_whole_history(tmp_path):
    run = _run(tmp_path)
    # a long history (every row at or before the checkpoint, so all of it must be kept)
    rows = [json.dumps({"iteration": 1 + i % 2, "d_loss": 0.5, "g_loss": 0.25, "pad": "x" * 60})
            for i in range(150_000)]
    history = "".join(r + "\n" for r in rows)
    (run / "metrics.jsonl").write_text(history)
    size = len(history)
    ino = (run / "metrics.jsonl").stat().st_ino

    def rewriting():
        m = run / "metrics.jsonl"
        tmp = [p for p in run.iterdir() if p.name.startswith(".metrics.jsonl.")]
        st = m.stat() if m.exists() else None
        return bool(tmp) or st is None or st.st_size != size or st.st_ino != ino

    p = subprocess.Popen([sys.executable, "-m", "gannorm", "train", "--resume", str(run), "train.iterations=3",
                          "--quiet"], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(rewriting, p, what="the metrics rewrite to start")
    finally:
        kill9(p)
    assert (run / "metrics.jsonl").read_text() == history


def test_temp_file_of_a_save_killed_midway_is_removed_on_resume(tmp_path):
    run = _run(tmp_path, iterations=1)
    # a process killed inside the package's atomic save leaves its temporary file
    script = ("import sys, time\nfrom gannorm.utils.io import atomic_write\n"
              "def w(f):\n f.write(b'x' * 100000); f.flush(); print('writing', flush=True); time.sleep(120)\n"
              "atomic_write(sys.argv[1], w)\n")
    p = subprocess.Popen([sys.executable, "-c", script, str(run / "checkpoints" / "latest.pt")], env=env(),
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "writing"
    finally:
        kill9(p)
    stale = [x.name for x in (run / "checkpoints").iterdir() if x.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(".latest.pt.")
    code, _, err = invoke("train", "--resume", run, "train.iterations=2")
    assert code == 0, err
    assert sorted(x.name for x in (run / "checkpoints").iterdir()) == ["latest.pt"]
