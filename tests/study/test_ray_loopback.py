"""A study on one machine (no --address) starts its Ray instance on 127.0.0.1 only: every
socket the instance's processes listen on is a loopback one (without the fix Ray's GCS,
raylet and workers listen on all interfaces)."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("psutil")  # after ray, which ships one

SRC = str(Path(__file__).resolve().parents[2] / "src")

PROBE = r"""
import ipaddress, os
import ray  # puts the psutil Ray ships on the path
import psutil
from gannorm.study.ray_cluster import connected
with connected(None) as ray:
    @ray.remote(num_cpus=1)
    def pid():
        return os.getpid()
    ray.get(pid.remote())  # a worker is up and listening too
    me = psutil.Process()
    ours = {p.pid for p in me.children(recursive=True)} | {me.pid}
    for c in psutil.net_connections("inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in ours:
            ip = ipaddress.ip_address(c.laddr.ip)
            ip = ip.ipv4_mapped or ip if ip.version == 6 else ip
            print("LISTEN", ip, ip.is_loopback, psutil.Process(c.pid).name())
"""


@pytest.mark.slow  # starts a Ray instance: about a minute on 2 busy cores
def test_a_local_instance_listens_on_loopback_only(tmp_path):
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    rows = [l.split() for l in p.stdout.splitlines() if l.startswith("LISTEN")]
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(rows) >= 3, p.stdout  # GCS, raylet, the driver and the worker each listen
    assert all(r[2] == "True" for r in rows), p.stdout
