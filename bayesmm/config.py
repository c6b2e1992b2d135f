"""Process-level set-up that must happen before jax starts: CPU devices for parallel chains, float64.

Kept free of jax imports so that ``import bayesmm`` can set ``XLA_FLAGS`` first. If jax was imported
before bayesmm, the device count cannot change any more and chains run one after another.
"""
from __future__ import annotations

import os
import sys

__all__ = ["configure_host_devices", "cache_directory"]


def configure_host_devices(n: int | None = None) -> None:
    """Expose ``n`` CPU devices to XLA (default: max(4, cores)) so chains can run in parallel."""
    if "jax" in sys.modules:
        return
    n = n or max(4, os.cpu_count() or 1)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def cache_directory() -> str:
    """Where compiled programs are kept between processes: ``BAYESMM_CACHE_DIR`` when set (an empty string
    turns caching off and gives ``""``), else ``$XDG_CACHE_HOME/bayesmm/jax`` (default ``~/.cache/bayesmm/jax``)."""
    directory = os.environ.get("BAYESMM_CACHE_DIR")
    if directory is None:
        directory = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bayesmm", "jax")
    return directory
