"""``python -m bot.ops.probe``: the Docker HEALTHCHECK. Exit 0 when ``/healthz`` answers 200, or when the
endpoint is off (``ops.listen`` unset: there is nothing to ask, so the container is not marked unhealthy)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from bot.config import ConfigError, load_settings, split_listen

TIMEOUT_SECONDS = 5.0
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # listening everywhere: ask over loopback


def main() -> int:
    """Ask the running bot's ``/healthz``; print why when it is unhealthy."""
    try:
        listen = load_settings().ops.listen
    except ConfigError as exc:
        print(f"paperbot probe: invalid configuration: {exc}", file=sys.stderr)
        return 1
    if not listen:
        return 0
    host, port = split_listen(listen)
    host = ANY_ADDRESS.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace").strip(), file=sys.stderr)
    except OSError as exc:
        print(f"paperbot probe: {url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
