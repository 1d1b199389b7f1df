"""A zip member that declares more bytes than an image can have is refused by its declared
size, before it is decompressed (it used to be read whole first: 300 MB took 1.3 GB)."""
import subprocess
import sys
import zipfile

from faultkit import env

PROBE = r"""
import resource, sys
from gannorm.data.zipfolder import zip_images
from gannorm.errors import GannormError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    zip_images(sys.argv[1], quiet=True)
    print("LOADED")
except GannormError as e:
    print("ERROR", e)
print("GROWTH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_an_oversized_member_is_refused_before_decompression(tmp_path, monkeypatch):
    monkeypatch.setenv("GANNORM_CACHE", str(tmp_path / "cache"))
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as f:
        with f.open("imgs/big.png", "w", force_zip64=True) as m:
            block = b"\0" * (1 << 20)
            for _ in range(200):  # 200 MB of zeros, a few hundred KB compressed
                m.write(block)
    assert z.stat().st_size < 2 << 20
    p = subprocess.run([sys.executable, "-c", PROBE, str(z)], capture_output=True, text=True, timeout=120,
                       env=env(GANNORM_CACHE=str(tmp_path / "cache")))
    out = p.stdout
    assert "ERROR" in out and "imgs/big.png" in out and "200 MB uncompressed" in out, (out, p.stderr[-1000:])
    growth_mb = int(out.split("GROWTH_KB")[1]) / 1024
    assert growth_mb < 100, growth_mb  # the member is never held in memory
