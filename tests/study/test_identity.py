"""A cell is its full resolved config: a run trained with other settings than the study now
gives its cell is refused with the differing keys (or trained anew with allow_changes), while
a longer train.iterations still resumes and a setting added by a newer gannorm, at its
default, does not count as a change."""
import pytest
import yaml

from gannorm import config as config_mod
from gannorm.errors import GannormError
from gannorm.study import load_study, run_study
from gannorm.study.runner import config_differences
from gannorm.store import Store

BASE = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 2, "batch_size": 8, "log_every": 1, "sample_every": 0, "checkpoint_every": 1},
        "eval": {"test_interval": 0}, "data": {"running_holdout": 8}}


def _study(tmp_path, **train):
    sf = tmp_path / "study.yaml"
    base = {**BASE, "train": {**BASE["train"], **train}}
    sf.write_text(yaml.safe_dump({"name": "i", "base": base, "axes": {"train.seed": [0]},
                                  "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8}))
    return load_study(sf)


def test_differences_ignore_resume_settings_and_new_keys_at_their_default():
    now = config_mod.Config().to_dict()
    saved = yaml.safe_load(yaml.safe_dump(now))
    assert config_differences(saved, now) == []
    saved["train"]["iterations"] = 10  # may change on resume: a longer run still resumes
    saved["optim"]["g_lr"] = 0.5
    del saved["train"]["loss"]  # written before the setting existed; now at its default
    assert config_differences(saved, now) == [f"optim.g_lr: 0.5 -> {now['optim']['g_lr']!r}"]
    now["train"]["loss"] = "hinge" if now["train"]["loss"] != "hinge" else "wgan"  # absent, not at the default
    assert config_differences(saved, now)[-1].startswith("train.loss: None -> ")


@pytest.mark.slow  # three small studies one after another (~1 min on 2 cores)
def test_a_changed_study_file_is_refused_or_retrained_never_reused(tmp_path):
    out = tmp_path / "out"
    first = run_study(_study(tmp_path), out)
    assert [r["status"] for r in first] == ["done"]
    cid = first[0]["cell_id"]
    changed = _study(tmp_path, seed=0)  # same settings: nothing to do
    assert run_study(changed, out) == []
    new_lr = _study(tmp_path)
    for c in new_lr.cells:
        c.config.optim.g_lr = 0.001
    with pytest.raises(GannormError) as e:
        run_study(new_lr, out)
    msg = str(e.value)
    assert "\n" not in msg and "optim.g_lr" in msg and "0.001" in msg and "--allow-changes" in msg
    rows = run_study(new_lr, out, allow_changes=True, say=lambda s: None)
    assert [r["status"] for r in rows] == ["done"]
    saved = yaml.safe_load((out / "runs" / cid / "config.yaml").read_text())
    assert saved["optim"]["g_lr"] == 0.001  # the new cell trained with the new settings
    assert (out / "runs" / f"{cid}.replaced-1" / "config.yaml").exists()  # the old run is kept aside
    longer = _study(tmp_path, iterations=3)
    for c in longer.cells:
        c.config.optim.g_lr = 0.001
    rows = run_study(longer, out)  # a longer budget resumes the same cell
    assert [r["iterations"] for r in rows] == [3]
    store = Store(out / "study.db")
    assert [r["status"] for r in store.runs()] == ["done"]
    store.close()
