"""Tiny reachability checks for scripts/run.sh (exit 0 when the service answers)."""

from __future__ import annotations

import sys
import urllib.request
from urllib.parse import urlparse


def main(argv: list[str]) -> int:
    kind = argv[1]
    try:
        if kind == "redis":
            import redis

            redis.Redis.from_url(argv[2], socket_connect_timeout=1, socket_timeout=1).ping()
        elif kind == "redis-address":
            url = urlparse(argv[2])
            print(url.hostname or "127.0.0.1", url.port or 6379)
        elif kind == "chroma":
            url = f"http://{argv[2]}:{argv[3]}/api/v2/heartbeat"
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - fixed http scheme
                return 0 if response.status == 200 else 1
        elif kind == "http":
            if not argv[2].startswith("http://"):
                return 1
            with urllib.request.urlopen(argv[2], timeout=1) as response:  # noqa: S310 - http only, checked above
                return 0 if response.status == 200 else 1
    except Exception:  # noqa: BLE001 - any failure means "not reachable yet"
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
