"""Live updates from the capture threads to every open page, without ever making capture wait.

Capture threads call `publish()`; it appends to each browser's bounded queue (the oldest update is
dropped, and counted, when a browser falls behind) and wakes that browser's event-loop task with
`call_soon_threadsafe`, which never blocks. A page that missed updates re-fetches its state anyway
(it does so on every reconnect), so a drop costs freshness, never evidence: the database holds it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
import time
from dataclasses import dataclass, field

from firmware.alerts.alerter import Alert


@dataclass
class Client:
    id: int
    user: str
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event
    queue: collections.deque = field(default_factory=collections.deque)
    dropped: int = 0


class Hub:
    def __init__(self, queue_size: int = 256):
        self.queue_size = queue_size
        self._clients: dict[int, Client] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.published = 0
        self.dropped = 0
        self.closed = False

    def subscribe(self, user: str) -> Client:
        """From the event loop: a new browser connection."""
        client = Client(next(self._ids), user, asyncio.get_running_loop(), asyncio.Event(),
                        collections.deque(maxlen=self.queue_size))
        with self._lock:
            self._clients[client.id] = client
        return client

    def unsubscribe(self, client: Client) -> None:
        with self._lock:
            self._clients.pop(client.id, None)

    def publish(self, kind: str, data: dict) -> None:
        """From any thread; never blocks on a browser."""
        with self._lock:
            clients = list(self._clients.values())
            self.published += 1
            for client in clients:
                if len(client.queue) == client.queue.maxlen:
                    client.dropped += 1
                    self.dropped += 1
                client.queue.append((kind, data))
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(client.wake.set)
            except RuntimeError:   # that browser's loop is closing
                pass

    def take(self, client: Client) -> list[tuple[str, dict]]:
        with self._lock:
            items = list(client.queue)
            client.queue.clear()
        return items

    def close(self) -> None:
        """Wake every stream so it ends (shutdown)."""
        self.closed = True
        self.publish("bye", {})

    def status(self) -> dict:
        with self._lock:
            return {"clients": len(self._clients), "published": self.published, "dropped": self.dropped}


def alert_event(alert: Alert) -> dict:
    """What the page needs to fill the screen at once, before it fetches the hit's full record."""
    return {**alert.as_dict(), "sent_at_ms": time.time() * 1000}


class ScreenSink:
    """The screen as an alert output (AlertSink): hands the alert to the hub and returns."""

    name = "screen"

    def __init__(self, hub: Hub, serving=lambda: True):
        self.hub = hub
        self.serving = serving
        self.alerts = 0

    def alert(self, alert: Alert) -> None:
        self.alerts += 1
        self.hub.publish("hit", alert_event(alert))

    def check(self) -> str | None:
        """The Alerter asks every minute: a screen whose server died is an alert output that failed."""
        if self.hub.closed:
            return None
        return None if self.serving() else "the screen's web server is not running"

    def close(self) -> None:
        pass
