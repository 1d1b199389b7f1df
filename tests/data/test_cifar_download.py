"""``data.download: true`` fetches the official CIFAR archive through torchvision's downloader
(its CIFAR10 class's URL and MD5), offline here: the URL points at a tiny archive in the
official format served by an HTTP server on 127.0.0.1."""
import functools
import hashlib
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from test_cifar import write_cifar10
from torchvision.datasets import CIFAR10

from gannorm import config as config_mod
from gannorm.config import DataConfig
from gannorm.data import load_data
from gannorm.errors import GannormError


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A cifar-10-python.tar.gz of 18 images on a local HTTP server; CIFAR10's URL and MD5 point at it."""
    d, written = write_cifar10(tmp_path / "src")
    arc = tmp_path / "served" / "cifar-10-python.tar.gz"
    arc.parent.mkdir()
    with tarfile.open(arc, "w:gz") as t:
        t.add(d, arcname="cifar-10-batches-py")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(arc.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(CIFAR10, "url", f"{base}/cifar-10-python.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(arc.read_bytes()).hexdigest())
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    yield arc, written, base
    server.shutdown()
    thread.join(timeout=10)


def test_download_fetches_to_the_cache_and_reads_the_same_images(served, tmp_path):
    arc, written, _ = served
    data = load_data(DataConfig(name="cifar10", download=True))
    cached = tmp_path / "cache" / "downloads" / "cifar-10-python.tar.gz"
    assert cached.read_bytes() == arc.read_bytes()
    expect = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert np.array_equal(data.images, expect)
    assert list(data.labels) == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    arc.unlink()  # offline now: the cached archive is read, nothing fetched
    again = load_data(DataConfig(name="cifar10", download=True, args={"split": "test"}))
    assert np.array_equal(again.images.reshape(3, -1), written["test_batch"][0])


def test_download_into_a_given_root(served, tmp_path):
    load_data(DataConfig(name="cifar10", root=str(tmp_path / "mine"), download=True))
    assert (tmp_path / "mine" / "cifar-10-python.tar.gz").is_file()


@pytest.mark.usefixtures("served")
@pytest.mark.parametrize("case", ["no-network", "wrong-md5"])
def test_failed_download_is_one_line_and_leaves_no_archive(tmp_path, monkeypatch, case):
    if case == "no-network":  # nothing listens on port 9 of 127.0.0.1 (discard): refused at once
        monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    else:
        monkeypatch.setattr(CIFAR10, "tgz_md5", "0" * 32)
    with pytest.raises(GannormError) as e:
        load_data(DataConfig(name="cifar10", download=True))
    assert "\n" not in str(e.value) and str(e.value).startswith("could not download CIFAR-10")
    assert not (tmp_path / "cache" / "downloads" / "cifar-10-python.tar.gz").exists()


def test_download_without_network_access_is_refused_where_it_cannot_work():
    with pytest.raises(GannormError, match="cannot be downloaded.*cifar10"):
        config_mod.load(None, ["data.name=folder", "data.root=x", "data.download=true"])
    with pytest.raises(GannormError, match="data.download=true"):
        load_data(DataConfig(name="cifar10"))
