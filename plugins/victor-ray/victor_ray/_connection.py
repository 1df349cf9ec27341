"""This process's one connection to Ray: started or joined at the first tool call.

Ray allows one connection per process (``ray.init``), so every
:class:`~victor_ray.backend.RayBackend` of the process shares it; it ends when
the process exits (or with ``ray.shutdown()``), not when an orchestrator
closes. This module is the only one that calls ``ray.init`` and reads Ray's
private helpers (the address of a ``ray start`` cluster on this machine); the
tests pin that behaviour.

* ``address=""``: join the cluster that ``ray start`` left on this machine if
  it answers, else start a private local instance, kept light: no dashboard,
  a small object store, one CPU slot per core, quiet logs; it ends with
  the process.
* any other address (``"10.0.0.5:6379"``, ``"auto"``; ``"ray://head:10001"``
  is handed to Ray Client as given): connect to it. The host and port are
  tried first with a plain TCP connection, so a wrong address fails in
  seconds with
  :class:`~victor_ray.RayConnectionError` instead of Ray's minute of retries.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from victor_ray._errors import RayConnectionError

__all__ = ["LOCAL_OBJECT_STORE_BYTES", "PROBE_TIMEOUT_S", "connect"]

#: Object store of a local instance: tool calls move small pickles, not arrays.
LOCAL_OBJECT_STORE_BYTES = 96 * 1024 * 1024
#: Seconds to wait for a TCP connection to the address before giving up.
PROBE_TIMEOUT_S = 5.0

_lock = threading.Lock()
_requested: list[str] = []  # the ray_address values this process connected with


def connect(address: str, *, tool: str | None = None) -> str:
    """Connect this process to Ray at ``address`` (once); the GCS address connected to.

    Args:
        address: ``ray_address`` (``""``: a local instance, joined or started).
        tool: the tool whose call needs it (named in the error).

    Raises:
        RayConnectionError: Ray could not be reached or started (the message
            names the address and why), or this process is already connected
            to another cluster.
    """
    with _lock:
        import ray

        if ray.is_initialized():
            current = _gcs_address(ray, _requested[-1] if _requested else "")
            known = address in ("", "auto") or address in _requested
            if not known and not _same_cluster(address, current):
                raise RayConnectionError(
                    f"ray_address {address!r}: this process is already connected to the Ray "
                    f"cluster at {current!r}, and a process joins one cluster; use that address "
                    "or an empty ray_address",
                    address=address,
                    tool=tool,
                )
            return current
        if address:
            _probe(address, tool)
            kwargs: dict[str, Any] = {"address": address}
        else:
            found = _local_cluster()
            kwargs = {"address": found} if found else _local_instance()
        quiet = _NotMainThreadFilter()
        worker_log = logging.getLogger("ray._private.worker")
        worker_log.addFilter(quiet)
        try:
            ray.init(
                **kwargs,
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=True,
            )
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            where = repr(address) if address else "a local Ray instance"
            raise RayConnectionError(
                f"ray_address {address!r}: could not connect to {where}: "
                f"{type(exc).__name__}: {exc}",
                address=address,
                tool=tool,
            ) from exc
        finally:
            worker_log.removeFilter(quiet)
        _requested.append(address)
        return _gcs_address(ray, address)


def _gcs_address(ray: Any, fallback: str) -> str:
    """The connected cluster's GCS address (Ray Client connections may not say: ``fallback``)."""
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:
        return fallback


class _NotMainThreadFilter(logging.Filter):
    """Drops Ray's notice that ``ray.init`` off the main thread sets no SIGTERM handler.

    The backend connects on a thread so the event loop keeps running while
    Ray starts. Without Ray's handler SIGTERM ends the process as usual, and
    the local instance it started stops when its driver is gone.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _local_instance() -> dict[str, Any]:
    # A library should not report usage to Ray's servers on its user's behalf.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return {
        "address": "local",
        "include_dashboard": False,
        "num_cpus": os.cpu_count() or 1,
        "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
    }


def _local_cluster() -> str | None:
    """The address of the cluster ``ray start`` left on this machine, if it answers."""
    try:
        from ray._private.services import find_bootstrap_address

        found = find_bootstrap_address(None)
    except Exception:  # a private helper: without it, start a local instance
        return None
    if not found:
        return None
    host, port = _host_port(str(found))
    if port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return str(found)
    except OSError:
        return None  # a stale record of a cluster that has stopped


def _host_port(address: str) -> tuple[str, int | None]:
    text = address.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, None
    return host.strip("[]") or "127.0.0.1", int(port)


def _probe(address: str, tool: str | None) -> None:
    if address in ("auto", "local"):
        return  # Ray resolves these itself
    host, port = _host_port(address)
    if port is None:
        raise RayConnectionError(
            f"ray_address {address!r} is not a Ray address: expected 'host:port', "
            "'ray://host:port', 'auto', or empty for a local instance",
            address=address,
            tool=tool,
        )
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayConnectionError(
            f"ray_address {address!r}: cannot reach Ray at {host}:{port} ({exc}); "
            "is the cluster running (ray start --head) and the address right?",
            address=address,
            tool=tool,
        ) from exc


def _same_cluster(address: str, current: str) -> bool:
    """Whether ``address`` names the cluster at ``current`` (same port; same or loopback host)."""
    host, port = _host_port(address)
    current_host, current_port = _host_port(current)
    if port is None or port != current_port:
        return False
    try:
        resolved = socket.gethostbyname(host)
        return resolved == socket.gethostbyname(current_host) or resolved.startswith("127.")
    except OSError:
        return host == current_host
