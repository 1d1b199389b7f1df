"""Sample-quality records (gannorm.metrics.evaluate)."""

from gannorm.metrics.evaluate import cifar_jpeg_caveat, format_record


def test_cifar_jpeg_figures_carry_the_caveat():
    """Reference: shared/README.md - FID/IS on the CIFAR-10 JPEG copy are not comparable with
    published CIFAR-10 numbers, and must say so wherever printed."""
    assert cifar_jpeg_caveat("image folder /work/shared/data/cifar10-jpeg/train (50000 images)")
    assert cifar_jpeg_caveat("Fashion-MNIST bundled subset") is None
    rec = {"metric": "fid", "value": 12.5, "extractor": "efficientnet_lite0", "n_gen": 10, "n_real": 20,
           "real_split": "train", "dataset": "cifar10-jpeg", "preprocessing": "uint8",
           "caveat": cifar_jpeg_caveat("cifar10-jpeg")}
    line = format_record(rec)
    assert "NOT comparable with published CIFAR-10" in line and "efficientnet_lite0" in line and "20 real" in line
