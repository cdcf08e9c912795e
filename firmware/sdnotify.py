"""systemd notification (READY, WATCHDOG, STATUS, STOPPING) without a dependency: one datagram socket."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send to $NOTIFY_SOCKET; a no-op (False) when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec, the cadence systemd recommends for WATCHDOG=1 pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    return int(usec) / 2e6
