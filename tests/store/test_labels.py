"""A cell's method (its labels less seed, draw and phase), the one grouping the seeds race,
tune-confirm and the report's tuning view share, checked against the labels written out."""
import pytest

from gannorm.store.labels import is_seed, method_labels


@pytest.mark.parametrize("key, seed", [("seed", True), ("train.seed", True), ("data.seed", True),
                                       ("seeds", False), ("seedling", False), ("norm", False), ("draw", False)])
def test_seed_axes(key, seed):
    assert is_seed(key) is seed


@pytest.mark.parametrize("labels, drop, method", [
    ({"norm": "batch", "train.seed": "0"}, (), (("norm", "batch"),)),
    ({"draw": "d1", "norm": "w", "phase": "confirm", "seed": "3"}, (), (("norm", "w"),)),
    ({"data.name": "mnist", "loss": "hinge", "norm": "sn", "data.seed": "1"}, ("data.name", None),
     (("loss", "hinge"), ("norm", "sn"))),  # order kept; None (no panel axis) drops nothing
    ({"train.seed": "0"}, (), ()),
    ({}, ("x",), ()),
])
def test_method_labels(labels, drop, method):
    assert method_labels(labels, drop) == method


def test_the_tuning_view_groups_by_method_labels(tmp_path):
    """The report's tuning view on a store whose draws also carry a seed: one method per norm
    (seed and draw are not part of it), with both draws as its scores."""
    from gannorm.report import analysis as A
    from gannorm.store import Store

    st = Store(tmp_path / "study.db")
    for m in ("a", "b"):
        for d in ("d0", "d1"):
            labels = {"draw": d, "norm": m, "train.seed": "0"}
            st.put_run({"cell_id": f"draw={d},norm={m},train.seed=0", "labels": labels, "status": "done",
                        "run_dir": "", "iterations": 1, "best_running": 0.1}, [], {})
    tun = A.tuning(A.load(st))
    assert list(tun.scores[""]) == ["a", "b"] and all(list(d) == ["d0", "d1"] for d in tun.scores[""].values())
    st.close()
