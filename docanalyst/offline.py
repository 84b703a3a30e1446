"""The offline promise: nothing we load may call a hub, a telemetry endpoint or any outside host.

`apply_environment()` sets the switches the libraries honour. `install_network_guard()` goes
further: with `NETWORK_GUARD=1` every attempt to resolve or connect to a non-loopback address
raises and is logged, so a test (or a suspicious admin) can prove that nothing even tries.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import Any

logger = logging.getLogger("docanalyst.netguard")

OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "SCARF_NO_ANALYTICS": "true",  # unstructured
    "DO_NOT_TRACK": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_guard_installed = False


def apply_environment() -> None:
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if os.environ.get("NETWORK_GUARD", "").lower() in {"1", "true", "yes"}:
        install_network_guard()


class OutboundConnectionBlocked(ConnectionError):
    pass


def _is_local(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None:
        return True
    host = str(host)
    if host in _LOCAL_NAMES or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    host: Any = None
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # AF_UNIX path
            return
        host = address[0]
    else:
        return
    if not _is_local(host):
        logger.error("blocked outbound network access: %s %r", event, host)
        raise OutboundConnectionBlocked(f"DocAnalyst runs offline; refused {event} to {host!r}")


def install_network_guard() -> None:
    global _guard_installed
    if not _guard_installed:
        sys.addaudithook(_audit)
        _guard_installed = True
