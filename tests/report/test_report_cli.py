"""`gannorm report`: the report reads the store alone; `--study FILE` records the study file's
settings in a store written without them (by the command line, since the report may not
import the runner), and a folder without a store is a one-line error."""
import yaml
from click.testing import CliRunner

from gannorm.cli import cli
from gannorm.store import Store


def _store(d):
    st = Store(d / "study.db")
    for m in ("batch", "weight"):
        for s in range(2):
            st.put_run({"cell_id": f"norm={m},train.seed={s}", "labels": {"norm": m, "train.seed": str(s)},
                        "status": "done", "run_dir": str(d / "runs"), "iterations": 10, "best_running": 0.1 + s},
                       [{"iteration": 10, "recon_running": 0.1}], {})
    st.close()


def test_report_with_a_study_file_records_its_settings_first(tmp_path):
    _store(tmp_path)
    r = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Study recorded-later" not in page and "not recorded: this study was run by an earlier gannorm" in page
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "recorded-later", "base": {"train": {"iterations": 10}},
                                     "axes": {"norm": {"batch": {"model.d_norm": "batch"},
                                                       "weight": {"model.d_norm": "weight"}},
                                              "train.seed": [0, 1]},
                                     "final_test": {"steps": 20, "images": 8}}))
    r = CliRunner().invoke(cli, ["report", str(tmp_path), "--study", str(study)])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Study recorded-later" in page and "batch: model.d_norm=batch" in page
    assert "20 z-steps instead of the library default" in page  # the recorded final test
    st = Store(tmp_path / "study.db")
    assert st.meta("study")["name"] == "recorded-later"
    st.close()


def test_report_of_a_folder_without_a_store_is_one_line(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "x", "axes": {"train.seed": [0]}}))
    for args in (["report", str(tmp_path)], ["report", str(tmp_path), "--study", str(study)]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code != 0 and "no study.db" in r.output and "Traceback" not in r.output
        assert not (tmp_path / "study.db").exists()
