"""Images held in memory while the disk cannot take them, written when it can.

A read is committed (and alerted) without waiting for its images; its JPEG bytes wait here, oldest
first, bounded in bytes. Past the bound the oldest image is dropped and counted: that is data loss,
and the recorder says so. When space returns each image is written durably and then attached to
its read (path set, queued for sync) in one writer job.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class HeldImage:
    read_id: str
    role: str        # crop | overview
    rel_path: str
    jpeg: bytes


class HeldImages:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._images: collections.deque[HeldImage] = collections.deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, image: HeldImage) -> int:
        """Hold one image; returns how many older ones were dropped to stay within the bound."""
        dropped = 0
        with self._lock:
            self._images.append(image)
            self._bytes += len(image.jpeg)
            while self._bytes > self.max_bytes and self._images:
                old = self._images.popleft()
                self._bytes -= len(old.jpeg)
                dropped += 1
            self.dropped += dropped
        return dropped

    def oldest(self) -> HeldImage | None:
        with self._lock:
            return self._images[0] if self._images else None

    def done(self, image: HeldImage) -> None:
        """The oldest image was written (or its read is gone): forget it."""
        with self._lock:
            if self._images and self._images[0] is image:
                self._images.popleft()
                self._bytes -= len(image.jpeg)

    def __len__(self) -> int:
        with self._lock:
            return len(self._images)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes
