"""A study's recorded datasets: each distinct dataset once, its image count read without
decoding images when the dataset has a counter, a missing one recorded as not loadable
(the study's other settings are still recorded), and counts from an earlier invocation kept."""
import numpy as np
import yaml
from PIL import Image

import gannorm.data as D
from gannorm.study import load_study
from gannorm.study.provenance import datasets


def test_datasets_are_counted_without_loading(tmp_path, monkeypatch):
    for i in range(4):
        Image.fromarray(np.full((6, 6, 3), i, np.uint8)).save(tmp_path / f"{i}.png")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "p", "axes": {
        "data": {"small": {"data.name": "fashion_mnist_small"}, "pics": {"data.name": "folder", "data.root": str(tmp_path)}},
        "train.seed": [0, 1]}}))
    study = load_study(p)

    def refuse(cfg, quiet=False):
        raise AssertionError("loaded to be counted")

    monkeypatch.setattr(D, "load_data", refuse)
    got = datasets(study)
    assert {d["name"]: d["images"] for d in got} == {"fashion_mnist_small": 2500, "folder": 4} and len(got) == 2
    for f in tmp_path.glob("*.png"):
        f.unlink()
    again = datasets(study, got)  # counted before: not counted again (the folder is empty now)
    assert {d["name"]: d["images"] for d in again} == {"fashion_mnist_small": 2500, "folder": 4}
    fresh = {d["name"]: d for d in datasets(study)}
    assert fresh["folder"]["images"] is None and fresh["folder"]["description"].startswith("not loadable: no images")
