"""Reaching a Ray cluster for a study: the optional import, a bounded connect, and a check
that some node can hold one cell before anything is submitted.

Ray is an optional extra (``pip install 'gannorm[ray]'``); it is imported only here, and only
when ``--backend ray`` is asked for.
"""
from __future__ import annotations

import contextlib
import logging
import socket
from typing import Dict, Iterator, Optional

from ..errors import GannormError

INSTALL = "pip install 'gannorm[ray]'  (or pip install -e '.[ray]' in a checkout)"
CONNECT_TIMEOUT_S = 10.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise GannormError(f"--backend ray needs Ray, which is not installed; install it with: {INSTALL}") from None
    return ray


def _host_port(address: str) -> Optional[tuple]:
    """(host, port) of ``ray://HOST:PORT`` or ``HOST:PORT``; None for ``auto``."""
    if address == "auto":
        return None
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise GannormError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in bounded time when nothing listens at the address (ray.init may retry for minutes)."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as e:
        raise GannormError(f"no Ray cluster reachable at {address} ({e.strerror or e}); start one with "
                           f"`ray start --head` or give the right --address") from None


@contextlib.contextmanager
def loopback_only(ray) -> Iterator[None]:
    """A local instance listening on 127.0.0.1 only.

    Ray (up to at least 2.60) makes its GCS, raylet and workers listen on every interface
    unless the node's address is the loopback one, which it picks only where it believes a
    cluster is impossible (its ``ENABLE_RAY_CLUSTER`` switch, off on macOS and Windows). A
    study on one machine needs no other host, so the switch is turned off while the instance
    starts; the node then registers as 127.0.0.1 and binds there. A cluster (``--address``)
    is left as Ray sets it up: see docs/ray-network.md for what it exposes.
    """
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield  # a Ray without the switch: tests/study/test_ray_loopback.py says so
        return
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


@contextlib.contextmanager
def connected(address: Optional[str]) -> Iterator:
    """Ray, connected: to ``address``, to the instance this process already joined, or to a new
    local instance sized to the machine (stopped again on exit)."""
    ray = import_ray()
    if address:  # an address the user named must answer, whatever this process joined before
        check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                  configure_logging=True)
    try:
        if address:
            ray.init(address=address, **({} if address.startswith("ray://") else kwargs))
        else:  # "local": a new instance even where `ray start` left one (ray.init() would join it)
            with loopback_only(ray):
                ray.init(address="local", **kwargs)
    except (ConnectionError, RuntimeError, TimeoutError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GannormError(f"could not connect to Ray at {address or 'a new local instance'}: {msg}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_resources(ray, resources: Dict[str, float]) -> None:
    """Refuse a request no alive node can satisfy (Ray would queue the cells forever)."""
    need = {"CPU": float(resources.get("cpu", 1)), "GPU": float(resources.get("gpu", 0))}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(n.get(k, 0.0) >= v for k, v in need.items() if v > 0) for n in nodes):
        return
    have = "; ".join(f"{n.get('CPU', 0):g} CPU, {n.get('GPU', 0):g} GPU" for n in nodes) or "no alive node"
    raise GannormError(f"no Ray node can hold one cell needing cpu={need['CPU']:g}, gpu={need['GPU']:g} "
                       f"(nodes: {have}); lower `resources:` in the study file or --cpus/--gpus-per-cell")

