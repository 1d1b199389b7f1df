"""TensorBoard holds the scalars, the sample grids, the config and the settings with the final
metrics (read back with TensorBoard's own EventAccumulator); without TensorBoard, one warning."""
import sys
import textwrap

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from gannorm.training.logging import MetricsLog


@pytest.fixture(scope="module")
def run(tmp_path_factory, train_tiny_run):
    rd = tmp_path_factory.mktemp("tb") / "r"
    res = train_tiny_run(rd, "train.iterations=4", "train.log_every=2", "train.sample_every=2",
                         "eval.test_interval=4", "eval.test_steps=2", "d_norm=batch")
    acc = EventAccumulator(str(rd / "tb"), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    return rd, res, acc


def test_sample_grids_are_images_at_their_iterations(run):
    rd, _, acc = run
    assert "samples" in acc.Tags()["images"]
    imgs = acc.Images("samples")
    assert [e.step for e in imgs] == [0, 2, 4]
    assert imgs[-1].width > 28 and imgs[-1].encoded_image_string.startswith(b"\x89PNG")


def test_config_is_text_and_equals_the_saved_yaml(run):
    rd, _, acc = run
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert yaml.safe_load(textwrap.dedent(text)) == yaml.safe_load((rd / "config.yaml").read_text())


def test_settings_are_hparams_beside_the_final_metrics(run):
    rd, res, acc = run
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    hp = {k: v.string_value or v.number_value or v.bool_value for k, v in start.hparams.items()}
    assert hp["model.d_norm"] == "batch" and hp["model.g_norm"] == "weight" and hp["train.iterations"] == 4
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in exp.metric_infos}
    assert {"final/d_loss", "final/g_loss", "final/recon_running", "final/recon_best"} <= metrics
    assert acc.Scalars("final/recon_best")[-1].value == pytest.approx(res.best_recon, rel=1e-6)
    assert [e.step for e in acc.Scalars("d_loss")] == [2, 4]


def test_missing_tensorboard_is_one_warning_not_silence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.warns(RuntimeWarning, match="TensorBoard logging is off.*pip install tensorboard"):
        log = MetricsLog(tmp_path / "m.jsonl", tensorboard_dir=tmp_path / "tb", config_text="a: 1\n")
    log.log(1, {"x": 2.0})
    log.hparams({"a": {"b": 1}}, {"x": 2.0})
    log.close()
    assert (tmp_path / "m.jsonl").read_text().strip() == '{"iteration": 1, "x": 2.0}'
