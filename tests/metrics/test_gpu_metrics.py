"""The reconstruction test and FID on a CUDA GPU (`pytest -m gpu`): the same numbers as on the
CPU (reference: the CPU run of the same generator, images and extractor)."""
import numpy as np
import pytest
import torch

from gannorm import config
from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.metrics.extractors import build_extractor
from gannorm.metrics.features import extract_images
from gannorm.metrics.fidelity import FeatureSet, fid
from gannorm.metrics.reconstruction import reconstruction_error
from gannorm.models import build_models

pytestmark = pytest.mark.gpu


def _images(n, offset=0):
    data = load_data(DataConfig(name="fashion_mnist_small"))
    return data, torch.from_numpy(np.ascontiguousarray(data.images[offset:offset + n]))


def test_reconstruction_error_on_cuda_equals_cpu():
    data, imgs = _images(32)
    cfg = config.load(None, ["base_features=8", "z_dim=16"])
    g, _ = build_models(cfg.model, data.size, data.channels)
    g.eval()
    cpu = reconstruction_error(g, imgs, steps=20, device=torch.device("cpu"))
    gpu = reconstruction_error(g.cuda(), imgs, steps=20, device=torch.device("cuda"))
    assert gpu.mean == pytest.approx(cpu.mean, rel=1e-3)
    torch.testing.assert_close(gpu.per_image.cpu(), cpu.per_image.cpu(), rtol=1e-2, atol=1e-5)


@pytest.mark.filterwarnings("ignore:FID from")  # 300 images of 1280-d features: biased, but the same on both
def test_fid_with_features_from_the_gpu_equals_cpu():
    _, a = _images(300)
    _, b = _images(300, offset=1000)
    out = {}
    for dev in ("cpu", "cuda"):
        ex = build_extractor("efficientnet_lite0", device=dev)
        fa, _ = extract_images(ex, a, batch_size=50)
        fb, _ = extract_images(ex, b, batch_size=50)
        out[dev] = (fa, fid(FeatureSet(features=fa), FeatureSet(features=fb))["fid"])
    torch.testing.assert_close(out["cuda"][0], out["cpu"][0], rtol=1e-2, atol=1e-3)
    assert out["cuda"][1] == pytest.approx(out["cpu"][1], rel=5e-2)
